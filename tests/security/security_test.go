// Package security checks authentication, the user database command
// (qpidd-users) and ACL enforcement end to end, with the real binaries.
package security

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

var (
	usersOnce sync.Once
	usersPath string
	usersErr  error
)

// usersBin is the qpidd-users command: from the binaries qpiddtest uses,
// else built here (the Makefile's bin/ may not have it).
func usersBin(t *testing.T) string {
	t.Helper()
	if p := qpiddtest.Bin(t, "qpidd-users"); fileExists(p) {
		return p
	}
	usersOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qpidd-users-")
		if err != nil {
			usersErr = err
			return
		}
		usersPath = filepath.Join(dir, "qpidd-users")
		cmd := exec.Command("go", "build", "-o", usersPath, "./qpidd-users")
		cmd.Dir = qpiddtest.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			usersErr = fmt.Errorf("go build ./qpidd-users: %v\n%s", err, out)
		}
	})
	if usersErr != nil {
		t.Fatal(usersErr)
	}
	return usersPath
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// users runs qpidd-users with stdin and returns its output and exit code.
func users(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(usersBin(t), args...)
	cmd.Env = append(os.Environ(), "QPID_CONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// addUser adds a user to a database with the command.
func addUser(t *testing.T, db, user, password string) {
	t.Helper()
	if out, errOut, code := users(t, password+"\n", "--database", db, "add", user); code != 0 {
		t.Fatalf("qpidd-users add %s: exit %d\n%s%s", user, code, out, errOut)
	}
}

func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "qpidd.users")

	out, errOut, code := users(t, "s3cret-pw\n", "--database", db, "add", "alice")
	if code != 0 || out != "Added user alice@QPID to "+db+"\n" {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("bob-pw\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := users(t, "", "add", "bob@QPID", "--database", db, "--password-file", pwFile, "--iterations", "5000"); code != 0 {
		t.Fatalf("add --password-file: exit %d, %q %q", code, out, errOut)
	}
	if out, _, code := users(t, "", "--database="+db, "list"); code != 0 || out != "alice@QPID\nbob@QPID\n" {
		t.Fatalf("list: exit %d, %q", code, out)
	}
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %04o, want 0600", fi.Mode().Perm())
	}
	content, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"s3cret-pw", "bob-pw"} {
		if strings.Contains(string(content), pw) {
			t.Errorf("the database holds the password %q:\n%s", pw, content)
		}
	}
	if !strings.Contains(string(content), "alice@QPID:SCRAM-SHA-256:4096:") || !strings.Contains(string(content), "bob@QPID:SCRAM-SHA-256:5000:") {
		t.Errorf("credentials missing:\n%s", content)
	}
	// The file is what the broker checks against.
	adb, err := auth.Open(db, "")
	if err != nil {
		t.Fatal(err)
	}
	if !adb.CheckPassword("alice", "s3cret-pw") || !adb.CheckPassword("bob@QPID", "bob-pw") || adb.CheckPassword("alice", "bob-pw") {
		t.Error("the stored credentials do not check the passwords")
	}

	if out, _, code := users(t, "new-pw\n", "--database", db, "add", "alice"); code != 0 || !strings.HasPrefix(out, "Changed the password of alice@QPID") {
		t.Fatalf("change: exit %d, %q", code, out)
	}
	if out, _, code := users(t, "", "--database", db, "remove", "bob"); code != 0 || out != "Removed user bob@QPID from "+db+"\n" {
		t.Fatalf("remove: exit %d, %q", code, out)
	}
	if out, _, _ := users(t, "", "--database", db, "list"); out != "alice@QPID\n" {
		t.Fatalf("list after remove: %q", out)
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"--database", db, "remove", "nobody"}, 1, "Error: no user nobody@QPID in " + db},
		{"", []string{"--database", db, "add", "carol"}, 1, "Error: no password in standard input"},
		{"", []string{"--database", db, "add", "carol", "password-here"}, 2, "Error: add takes one user name and no password"},
		{"", []string{"--database", db, "--password", "x", "add", "carol"}, 2, "Error: there is no --password option"},
		{"", []string{"--database", db, "frobnicate"}, 2, `Error: unknown command "frobnicate"`},
		{"", []string{"--database", db}, 2, "Error: a command is needed"},
		{"", []string{"--database", db, "--iterations", "10", "add", "carol"}, 2, "Error: --iterations"},
		{"x\n", []string{"--database", db, "add", "bad:name"}, 1, "Error: user name"},
		{"", []string{"--config", filepath.Join(dir, "missing.conf"), "list"}, 1, "Error: reading the qpidd configuration"},
	} {
		_, errOut, code := users(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}

	// The database and realm of a qpidd.conf.
	conf := filepath.Join(dir, "qpidd.conf")
	other := filepath.Join(dir, "other.users")
	if err := os.WriteFile(conf, []byte("auth-database="+other+"\nrealm=EXAMPLE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := users(t, "pw\n", "--config", conf, "add", "carol"); code != 0 || out != "Added user carol@EXAMPLE to "+other+"\n" {
		t.Fatalf("add with --config: exit %d, %q %q", code, out, errOut)
	}

	out, _, code = users(t, "", "--help")
	if code != 0 || !strings.Contains(out, "qpidd-users [OPTIONS] add USER") || !strings.Contains(out, "--password-file") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// startAuth starts a broker that authenticates against a fresh database
// holding alice (password alice-pw) and bob@QPID (bob-pw).
func startAuth(t *testing.T, extra ...string) (*qpiddtest.Broker, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "qpidd.users")
	addUser(t, db, "alice", "alice-pw")
	addUser(t, db, "bob@QPID", "bob-pw")
	return qpiddtest.Start(t, append([]string{"--auth", "yes", "--auth-database", db, "--queue-patterns", ".*"}, extra...)...), db
}

func dialGoAMQP(addr string, mech goamqp.SASLType) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+addr, &goamqp.ConnOptions{SASLType: mech})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.NewSession(ctx, nil)
	return err
}

// engineConn is a connection of our own engine, for the SASL mechanisms
// go-amqp lacks (SCRAM-SHA-256).
type engineConn struct {
	opened chan struct{}
	once   sync.Once
}

func (h *engineConn) HandleEvent(c *driver.Conn, e amqp.Event) {
	switch e.Type {
	case amqp.EventConnectionOpen:
		h.once.Do(func() { close(h.opened) })
	case amqp.EventConnectionClose:
		c.Engine.Close(nil)
	}
}

func (h *engineConn) Writable(*driver.Conn) {}

// dialEngine opens a connection with a SASL mechanism; it stays open until
// close is called. containerID names it in the broker's connection list.
func dialEngine(addr, containerID string, mech sasl.ClientMechanism) (closeConn func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := &engineConn{opened: make(chan struct{})}
	dc, done, err := driver.Dial(ctx, addr, amqp.Config{
		ContainerID: containerID, Hostname: "127.0.0.1", SASLClient: mech, HandshakeTimeout: 10 * time.Second,
	}, h)
	if err != nil {
		return nil, err
	}
	dc.Inject(dc.Engine.Open)
	select {
	case <-h.opened:
		return func() {
			dc.Close(nil)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		}, nil
	case err := <-done:
		if err == nil {
			err = errors.New("connection closed before it opened")
		}
		return nil, err
	case <-ctx.Done():
		dc.Close(nil)
		return nil, ctx.Err()
	}
}

// users of the broker's connection list, by container id.
func connectionUsers(t *testing.T, b *qpiddtest.Broker, login string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "amqp://"+login+"@"+b.Addr(), client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conns, err := c.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range conns {
		out[o.Str("container")] = o.Str("user")
	}
	return out
}

func TestAuthentication(t *testing.T) {
	b, _ := startAuth(t)
	addr := b.Addr()

	t.Run("PLAIN", func(t *testing.T) {
		for _, login := range [][2]string{{"alice", "alice-pw"}, {"alice@QPID", "alice-pw"}, {"bob", "bob-pw"}} {
			if err := dialGoAMQP(addr, goamqp.SASLTypePlain(login[0], login[1])); err != nil {
				t.Errorf("%s with the right password: %v", login[0], err)
			}
		}
		for _, login := range [][2]string{{"alice", "bob-pw"}, {"alice", ""}, {"alice@OTHER", "alice-pw"}, {"mallory", "alice-pw"}} {
			if err := dialGoAMQP(addr, goamqp.SASLTypePlain(login[0], login[1])); err == nil {
				t.Errorf("%s/%q logged in", login[0], login[1])
			}
		}
		// Identities are user@QPID.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, "amqp://alice:alice-pw@"+addr, client.Options{ContainerID: "plain-identity", Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := connectionUsers(t, b, "bob:bob-pw")["plain-identity"]; got != "alice@QPID" {
			t.Errorf("PLAIN identity %q, want alice@QPID", got)
		}
	})

	t.Run("SCRAM-SHA-256", func(t *testing.T) {
		closeConn, err := dialEngine(addr, "scram-identity", auth.NewSCRAMClient("alice", "alice-pw"))
		if err != nil {
			t.Fatalf("right password: %v", err)
		}
		defer closeConn()
		if got := connectionUsers(t, b, "bob:bob-pw")["scram-identity"]; got != "alice@QPID" {
			t.Errorf("SCRAM identity %q, want alice@QPID", got)
		}
		if c, err := dialEngine(addr, "scram-bob", auth.NewSCRAMClient("bob@QPID", "bob-pw")); err != nil {
			t.Errorf("bob@QPID: %v", err)
		} else {
			c()
		}
		for _, login := range [][2]string{{"alice", "bob-pw"}, {"mallory", "x"}} {
			if c, err := dialEngine(addr, "scram-bad", auth.NewSCRAMClient(login[0], login[1])); err == nil {
				c()
				t.Errorf("%s/%s logged in", login[0], login[1])
			}
		}
		// PLAIN through our engine too, for symmetry.
		if c, err := dialEngine(addr, "plain-engine", sasl.ClientPlain("alice", "alice-pw")); err != nil {
			t.Errorf("PLAIN (engine): %v", err)
		} else {
			c()
		}
	})

	t.Run("ANONYMOUS refused with auth=yes", func(t *testing.T) {
		if err := dialGoAMQP(addr, goamqp.SASLTypeAnonymous()); err == nil {
			t.Fatal("ANONYMOUS logged in")
		}
		if c, err := dialEngine(addr, "anon", sasl.ClientAnonymous()); err == nil {
			c()
			t.Fatal("ANONYMOUS logged in (engine)")
		}
	})

	t.Run("ANONYMOUS accepted with auth=no", func(t *testing.T) {
		open := qpiddtest.Start(t, "--auth", "no")
		if err := dialGoAMQP(open.Addr(), goamqp.SASLTypeAnonymous()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMissingDatabaseWarning(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.users")
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", db)
	log := b.Log()
	if !strings.Contains(log, "level=warning") || !strings.Contains(log, db+" does not exist") ||
		!strings.Contains(log, "qpidd-users --database "+db+" add USER") {
		t.Errorf("no warning naming the file and the command:\n%s", log)
	}
	if err := dialGoAMQP(b.Addr(), goamqp.SASLTypePlain("alice", "alice-pw")); err == nil {
		t.Error("a login succeeded without users")
	}
}

const aclFile = `# test policy
group admins alice@QPID
acl allow admins all all
acl allow bob@QPID access all
acl allow bob@QPID create queue name=TempQueue-*
acl deny-log bob@QPID consume queue name=secret
acl allow bob@QPID consume queue
acl allow bob@QPID publish exchange
acl deny all all
`

func condition(err error) string {
	var ae *goamqp.Error
	var le *goamqp.LinkError
	var ce *goamqp.ConnError
	switch {
	case errors.As(err, &ae):
		return string(ae.Condition)
	case errors.As(err, &le) && le.RemoteErr != nil:
		return string(le.RemoteErr.Condition)
	case errors.As(err, &ce) && ce.RemoteErr != nil:
		return string(ce.RemoteErr.Condition)
	}
	return ""
}

func TestACLDenialClosesLinkAndIsLogged(t *testing.T) {
	aclPath := filepath.Join(t.TempDir(), "qpidd.acl")
	if err := os.WriteFile(aclPath, []byte(aclFile), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "qpidd.users")
	addUser(t, db, "alice", "alice-pw")
	addUser(t, db, "bob", "bob-pw")
	addUser(t, db, "carol", "carol-pw")
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", db, "--acl-file", aclPath, "--queue", "secret", "--queue", "public")
	if !strings.Contains(b.Log(), "ACL file loaded") {
		t.Errorf("no log of the ACL file:\n%s", b.Log())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	receive := func(user, pw, queue string) error {
		conn, err := goamqp.Dial(ctx, "amqp://"+b.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain(user, pw)})
		if err != nil {
			return err
		}
		defer conn.Close()
		s, err := conn.NewSession(ctx, nil)
		if err != nil {
			return err
		}
		_, err = s.NewReceiver(ctx, queue, nil)
		return err
	}
	if err := receive("bob", "bob-pw", "public"); err != nil {
		t.Fatalf("bob on public: %v", err)
	}
	err := receive("bob", "bob-pw", "secret")
	if condition(err) != "amqp:unauthorized-access" || !strings.Contains(err.Error(), "bob@QPID") || !strings.Contains(err.Error(), `consume queue "secret"`) {
		t.Fatalf("bob on secret: %v", err)
	}
	if err := receive("carol", "carol-pw", "public"); condition(err) != "amqp:unauthorized-access" {
		t.Fatalf("carol (default deny): %v", err)
	}
	if err := receive("alice", "alice-pw", "secret"); err != nil {
		t.Fatalf("alice (admins): %v", err)
	}
	qpiddtest.Eventually(t, 5*time.Second, func() error {
		log := b.Log()
		for _, want := range [][]string{
			{"ACL denied", "user=bob@QPID", "action=consume", "object=queue", "name=secret", `rule="` + aclPath + `:6: acl deny-log bob@QPID consume queue name=secret"`},
			{"ACL denied", "user=carol@QPID", "action=access", `rule="` + aclPath + `:9: acl deny all all"`},
		} {
			found := false
			for _, line := range strings.Split(log, "\n") {
				ok := true
				for _, w := range want {
					ok = ok && strings.Contains(line, w)
				}
				found = found || ok
			}
			if !found {
				return fmt.Errorf("no log line with %q:\n%s", want, log)
			}
		}
		return nil
	})

	// A management operation bob may not do is a 403.
	c, err := client.Dial(ctx, "amqp://bob:bob-pw@"+b.Addr(), client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("bob's management connection: %v", err)
	}
	defer c.Close()
	if _, err := c.CreateQueue(ctx, "bobs", nil); client.StatusOf(err) != 403 {
		t.Fatalf("bob creating a queue: %v", err)
	}
}

func TestBadACLFileStopsTheBroker(t *testing.T) {
	aclPath := filepath.Join(t.TempDir(), "bad.acl")
	if err := os.WriteFile(aclPath, []byte("acl allow alice@QPID all all\nacl allow bob@QPID fly queue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(qpiddtest.Bin(t, "qpidd"), "--config", "", "--auth", "no", "--port", "0",
		"--data-dir", t.TempDir(), "--acl-file", aclPath)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), aclPath+":2:") || strings.Contains(string(out), "listening on port") {
		t.Fatalf("output:\n%s", out)
	}
}
