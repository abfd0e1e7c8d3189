package config

import (
	"reflect"
	"testing"
)

func TestParseURL(t *testing.T) {
	tcp := func(h string, p int) Address { return Address{Scheme: "tcp", Host: h, Port: p} }
	ssl := func(h string, p int) Address { return Address{Scheme: "ssl", Host: h, Port: p} }
	for _, c := range []struct {
		in   string
		want URL
		str  string
	}{
		{"20.0.20.1,20.0.20.2,20.0.20.3",
			URL{Addrs: []Address{tcp("20.0.20.1", 5672), tcp("20.0.20.2", 5672), tcp("20.0.20.3", 5672)}},
			"amqp:tcp:20.0.20.1:5672,tcp:20.0.20.2:5672,tcp:20.0.20.3:5672"},
		{"amqp:user/pass@node1:5673,tcp:node2",
			URL{User: "user", Password: "pass", Addrs: []Address{tcp("node1", 5673), tcp("node2", 5672)}},
			"amqp:user@tcp:node1:5673,tcp:node2:5672"},
		{"ssl:host", URL{Addrs: []Address{ssl("host", 5671)}}, "amqp:ssl:host:5671"},
		{"ssl:host:5672", URL{Addrs: []Address{ssl("host", 5672)}}, "amqp:ssl:host:5672"},
		{"[::1]:5672", URL{Addrs: []Address{tcp("::1", 5672)}}, "amqp:tcp:[::1]:5672"},
		{"[::1]", URL{Addrs: []Address{tcp("::1", 5672)}}, "amqp:tcp:[::1]:5672"},
		{"ssl:[fe80::1:2]:5999,tcp:[2001:db8::7]", URL{Addrs: []Address{ssl("fe80::1:2", 5999), tcp("2001:db8::7", 5672)}},
			"amqp:ssl:[fe80::1:2]:5999,tcp:[2001:db8::7]:5672"},
		{"localhost", URL{Addrs: []Address{tcp("localhost", 5672)}}, "amqp:tcp:localhost:5672"},
		{"amqp:node1", URL{Addrs: []Address{tcp("node1", 5672)}}, "amqp:tcp:node1:5672"},
		{"guest@node1", URL{User: "guest", Addrs: []Address{tcp("node1", 5672)}}, "amqp:guest@tcp:node1:5672"},
		{"u:p@node1", URL{User: "u", Password: "p", Addrs: []Address{tcp("node1", 5672)}}, "amqp:u@tcp:node1:5672"},
		{"tcp:my-host.example.com:1", URL{Addrs: []Address{tcp("my-host.example.com", 1)}}, "amqp:tcp:my-host.example.com:1"},
		{"host%41", URL{Addrs: []Address{tcp("host%41", 5672)}}, "amqp:tcp:host%41:5672"},
	} {
		got, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseURL(%q) = %+v; want %+v", c.in, got, c.want)
		}
		if s := got.String(); s != c.str {
			t.Errorf("ParseURL(%q).String() = %q; want %q", c.in, s, c.str)
		}
		// The rendering parses back to the same URL, less the password.
		back, err := ParseURL(got.String())
		want := c.want
		want.Password = ""
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", got.String(), back, err, want)
		}
	}
	bad := []string{
		"", "amqp:", "user@", "a,,b", "a,", ",a", "host:", "host:abc", "host:0", "host:65536", "host:-1",
		"rdma:host", "foo:host", "[::1", "[]", "[zz::1]", "[::1]x", "[1.2.3.4]", "ho st", "host/x", "host:1:2",
		"a b,c", "%zz", "host%4",
	}
	for _, in := range bad {
		if u, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) = %+v; want error", in, u)
		}
	}
}

func TestAddressHostPort(t *testing.T) {
	u, err := ParseURL("node1,[::1]:6000")
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Addrs[0].HostPort(); got != "node1:5672" {
		t.Errorf("HostPort = %q", got)
	}
	if got := u.Addrs[1].HostPort(); got != "[::1]:6000" {
		t.Errorf("HostPort = %q", got)
	}
	if (URL{}).String() != "" || !(URL{}).Empty() {
		t.Errorf("empty URL renders as %q", URL{}.String())
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"20.0.20.1,20.0.20.2,20.0.20.3", "amqp:user/pass@node1:5673,tcp:node2", "ssl:host", "[::1]:5672", "u:p@h%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		if u.Empty() {
			t.Fatalf("ParseURL(%q) gave no address", s)
		}
		back, err := ParseURL(u.String())
		u.Password = ""
		if err != nil || !reflect.DeepEqual(back, u) {
			t.Fatalf("ParseURL(%q) = %+v renders as %q, which parses as %+v, %v", s, u, u.String(), back, err)
		}
	})
}
