package acl

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; a bad file gives line-numbered errors; a
// good one decides every lookup by one of its rules or its default, and
// decides the same once rewritten in canonical form (flattened groups, one
// member per continuation line, then the rules).
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/qpidd.acl"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{
		"",
		"acl allow all all\n",
		"acl deny-log all all",
		"group g a@Q \\\n b@Q \\\n# c\n c@Q\nacl allow g create queue name=x.*\n",
		"group a b@Q\ngroup c a c d@Q\nacl allow c all queue durable=true\nacl deny all all\n",
		"acl allow all publish exchange name=amq.default routingkey=a.#.${user}.*\n",
		"acl allow u@Q create queue name=${userdomain}-* queuemaxsizeupperlimit=10 queuemaxcountlowerlimit=2\n",
		"acl deny all create connection host=10.0.0.1,10.0.0.9\nacl allow all create connection host=all\n",
		"quota connections 5 all\nquota queues 0 u@Q\n",
		"group g a@Q \\\n\\\n",
		"acl allow all all \\\n x",
		"group \\\n",
		"acl allow a@Q bind exchange routingkey=#.#.*.# queuename=q\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a, err := Parse(strings.NewReader(text), "fuzz.acl")
		if err != nil {
			var l ErrorList
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, e := range l {
				if e.File != "fuzz.acl" || e.Line < 1 || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		_ = a.Warnings()
		rules := a.Rules()
		texts := map[string]bool{a.Default().Text: true, a.connDefault.Text: true}
		users := map[string]bool{"anonymous": true, "x@Y": true, "": true}
		for _, r := range rules {
			texts[r.Text] = true
			for _, u := range r.Users {
				users[u] = true
			}
		}
		names, members := a.Groups()

		// The canonical rewrite, unless a group is empty (a group line
		// needs a member).
		var b strings.Builder
		canonical := true
		for _, n := range names {
			if len(members[n]) == 0 {
				canonical = false
				break
			}
			b.WriteString("group " + n)
			for _, m := range members[n] {
				b.WriteString(" \\\n  " + m)
			}
			b.WriteString("\n")
		}
		for _, r := range rules {
			b.WriteString(r.Text + "\n")
		}
		var c *ACL
		if canonical {
			c, err = Parse(strings.NewReader(b.String()), "canonical.acl")
			if err != nil {
				t.Fatalf("canonical form rejected: %v\n%s", err, b.String())
			}
		}

		props := map[Property]string{
			PropName: "x.1", PropRoutingKey: "a.b", PropQueueName: "q", PropDurable: "true",
			PropType: "topic", PropHost: "10.0.0.5", PropMaxQueueSize: "100", PropMaxQueueCount: "3",
		}
		for u := range users {
			for _, act := range Actions() {
				for _, obj := range Objects() {
					got, r := a.Allowed(u, act, obj, props)
					if !texts[r.Text] {
						t.Fatalf("%q %s %s decided by unknown rule %q", u, act, obj, r.Text)
					}
					if got != r.Permission.Allows() && !r.LimitExceeded {
						t.Fatalf("%q %s %s: %v by %s", u, act, obj, got, r.Permission)
					}
					if c != nil {
						got2, r2 := c.Allowed(u, act, obj, props)
						if got2 != got || r2.Text != r.Text {
							t.Fatalf("canonical form decides %q %s %s %v by %q, original %v by %q\n%s",
								u, act, obj, got2, r2.Text, got, r.Text, b.String())
						}
					}
				}
			}
		}
	})
}
