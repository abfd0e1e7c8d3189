// Package auth authenticates AMQP connections to the broker: a user database
// holding salted SCRAM-SHA-256 credentials (never passwords), the server and
// client sides of the SCRAM-SHA-256 SASL mechanism (RFC 5802, RFC 7677), and
// the sasl.Server the broker offers (SCRAM-SHA-256, PLAIN, and ANONYMOUS when
// authentication is off).
//
// Users are named user@realm, as in qpidd's ACLs. A bare name is qualified
// with the database's realm (DefaultRealm, "QPID", unless configured): "guest"
// is "guest@QPID", while "guest@OTHER" keeps its realm.
//
// Passwords are used as their UTF-8 bytes: SASLprep (RFC 4013), which SCRAM
// asks for, needs Unicode normalisation tables that the standard library does
// not have, so it is not applied. Passwords in ASCII, the usual case, are
// unaffected; client and server here agree on non-ASCII ones too.
//
// The database file has one line per user:
//
//	guest@QPID:SCRAM-SHA-256:4096:<base64 salt>:<base64 StoredKey>:<base64 ServerKey>
//
// Blank lines and lines starting with '#' are ignored. Base64 is the standard
// alphabet with padding. The file is written with mode 0600.
package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
)

// DefaultRealm qualifies bare user names when no realm is configured.
const DefaultRealm = "QPID"

// FileMode is the permission of a saved database file.
const FileMode fs.FileMode = 0o600

// ParseError is a malformed line of a database file.
type ParseError struct {
	Path   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Reason) }

// DB is the user database. It is safe for concurrent use.
type DB struct {
	path  string
	realm string
	// secret derives the fake SCRAM parameters of unknown users; it is
	// random per DB and survives Reload.
	secret []byte

	mu         sync.RWMutex
	users      map[string]Credential // by qualified name
	iterations int

	saveMu sync.Mutex // serialises Save
}

var _ sasl.PasswordChecker = (*DB)(nil)

// Open loads the database at path, qualifying bare names with realm ("" means
// DefaultRealm). A missing file is an empty database, created by Save. An
// empty path is a database in memory only: Save and Reload fail.
func Open(path, realm string) (*DB, error) {
	if realm == "" {
		realm = DefaultRealm
	}
	if err := validRealm(realm); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auth: generating secret: %w", err)
	}
	db := &DB{
		path:       path,
		realm:      realm,
		secret:     secret,
		users:      map[string]Credential{},
		iterations: DefaultIterations,
	}
	if path != "" {
		users, err := load(path)
		if err != nil {
			return nil, err
		}
		db.users = users
	}
	return db, nil
}

// Path is the file the database is stored in ("" when in memory).
func (db *DB) Path() string { return db.path }

// Realm is the realm that qualifies bare user names.
func (db *DB) Realm() string { return db.realm }

// Qualify returns name as user@realm: a name containing '@' is kept as is,
// a bare name gets the database's realm.
func (db *DB) Qualify(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + db.realm
}

// Iterations is the PBKDF2 iteration count of credentials Add creates.
func (db *DB) Iterations() int {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.iterations
}

// SetIterations sets the iteration count of credentials Add creates later
// (existing ones keep theirs until their password is set again).
func (db *DB) SetIterations(n int) error {
	if n < MinIterations || n > MaxIterations {
		return fmt.Errorf("auth: iteration count %d out of range [%d, %d]", n, MinIterations, MaxIterations)
	}
	db.mu.Lock()
	db.iterations = n
	db.mu.Unlock()
	return nil
}

// Add sets the password of user (qualified with the realm when bare),
// replacing any credential it had. Only the database in memory changes: call
// Save to write the file.
func (db *DB) Add(user, password string) error {
	if password == "" {
		return errors.New("auth: empty password")
	}
	name := db.Qualify(user)
	if err := validUser(name); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	c, err := DeriveCredential(name, password, nil, db.Iterations())
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	db.mu.Lock()
	db.users[name] = c
	db.mu.Unlock()
	return nil
}

// SetCredential stores a credential computed elsewhere (see
// DeriveCredential), qualifying its user name, replacing any existing one.
func (db *DB) SetCredential(c Credential) error {
	c = c.clone()
	c.User = db.Qualify(c.User)
	if err := validCredential(c); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	db.mu.Lock()
	db.users[c.User] = c
	db.mu.Unlock()
	return nil
}

// Remove deletes user; it is an error if there is no such user.
func (db *DB) Remove(user string) error {
	name := db.Qualify(user)
	db.mu.Lock()
	defer db.mu.Unlock()
	if _, ok := db.users[name]; !ok {
		return fmt.Errorf("auth: no user %s", name)
	}
	delete(db.users, name)
	return nil
}

// List returns the qualified user names, sorted.
func (db *DB) List() []string {
	db.mu.RLock()
	names := make([]string, 0, len(db.users))
	for n := range db.users {
		names = append(names, n)
	}
	db.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Lookup returns the credential of user ("name" or "name@realm").
func (db *DB) Lookup(user string) (Credential, bool) {
	db.mu.RLock()
	c, ok := db.users[db.Qualify(user)]
	db.mu.RUnlock()
	if !ok {
		return Credential{}, false
	}
	return c.clone(), true
}

// CheckPassword reports whether password is user's ("name" or "name@realm").
// It implements sasl.PasswordChecker, for PLAIN. An unknown user costs the
// same key derivation as a known one.
func (db *DB) CheckPassword(user, password string) bool {
	c, ok := db.Lookup(user)
	if !ok {
		c = db.fakeCredential(db.Qualify(user))
	}
	salted := saltedPassword(password, c.Salt, c.Iterations)
	match := subtle.ConstantTimeCompare(storedKey(clientKey(salted)), c.StoredKey) == 1
	return ok && match
}

// fakeCredential stands in for an unknown user so that SCRAM's
// server-first-message does not tell whether the user exists: its salt is
// deterministic per name, derived from the database's secret, and its keys
// match no password anyone knows.
func (db *DB) fakeCredential(name string) Credential {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, db.secret)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(name))
		return m.Sum(nil)
	}
	return Credential{
		User:       name,
		Iterations: db.Iterations(),
		Salt:       derive("salt")[:SaltLen],
		StoredKey:  derive("stored-key"),
		ServerKey:  derive("server-key"),
	}
}

// Save writes the database to its file: a temporary file in the same
// directory, mode 0600, synced, then renamed over the file.
func (db *DB) Save() error {
	if db.path == "" {
		return errors.New("auth: database has no file")
	}
	db.saveMu.Lock()
	defer db.saveMu.Unlock()

	var buf bytes.Buffer
	buf.WriteString("# qpidha SASL users: salted SCRAM-SHA-256 credentials, no passwords.\n")
	buf.WriteString("# user@realm:SCRAM-SHA-256:iterations:salt:StoredKey:ServerKey (base64)\n")
	db.mu.RLock()
	names := make([]string, 0, len(db.users))
	for n := range db.users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		buf.WriteString(formatLine(db.users[n]))
		buf.WriteByte('\n')
	}
	db.mu.RUnlock()

	dir, base := filepath.Split(db.path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: saving %s: %w", db.path, err)
	}
	tmpName := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmpName)
		return fmt.Errorf("auth: saving %s: %w", db.path, err)
	}
	if err := tmp.Chmod(FileMode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("auth: saving %s: %w", db.path, err)
	}
	if err := os.Rename(tmpName, db.path); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("auth: saving %s: %w", db.path, err)
	}
	// Make the rename durable; not all systems can sync a directory.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Reload reads the file again and replaces the users with its contents (a
// missing file is an empty database). On error the users are left as they
// were.
func (db *DB) Reload() error {
	if db.path == "" {
		return errors.New("auth: database has no file")
	}
	users, err := load(db.path)
	if err != nil {
		return err
	}
	db.mu.Lock()
	db.users = users
	db.mu.Unlock()
	return nil
}

func formatLine(c Credential) string {
	enc := base64.StdEncoding.EncodeToString
	return strings.Join([]string{
		c.User, SCRAMSHA256, strconv.Itoa(c.Iterations),
		enc(c.Salt), enc(c.StoredKey), enc(c.ServerKey),
	}, ":")
}

// maxLineLen bounds a line of the database file.
const maxLineLen = 16 * 1024

func load(path string) (map[string]Credential, error) {
	users := map[string]Credential{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return users, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()

	firstLine := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxLineLen)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := parseLine(line)
		if err != nil {
			return nil, &ParseError{Path: path, Line: n, Reason: err.Error()}
		}
		if first, dup := firstLine[c.User]; dup {
			return nil, &ParseError{Path: path, Line: n, Reason: fmt.Sprintf("duplicate user %s (first on line %d)", c.User, first)}
		}
		firstLine[c.User] = n
		users[c.User] = c
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ParseError{Path: path, Line: n + 1, Reason: "line too long"}
		}
		return nil, fmt.Errorf("auth: reading %s: %w", path, err)
	}
	return users, nil
}

func parseLine(line string) (Credential, error) {
	fields := strings.Split(line, ":")
	if len(fields) != 6 {
		return Credential{}, fmt.Errorf("want 6 ':'-separated fields (user@realm:%s:iterations:salt:StoredKey:ServerKey), got %d", SCRAMSHA256, len(fields))
	}
	var c Credential
	c.User = fields[0]
	if !strings.Contains(c.User, "@") {
		return Credential{}, fmt.Errorf("user %q has no @realm", c.User)
	}
	if fields[1] != SCRAMSHA256 {
		return Credential{}, fmt.Errorf("unsupported mechanism %q (want %s)", fields[1], SCRAMSHA256)
	}
	it, err := strconv.Atoi(fields[2])
	if err != nil {
		return Credential{}, fmt.Errorf("bad iteration count %q", fields[2])
	}
	c.Iterations = it
	for i, dst := range []*[]byte{&c.Salt, &c.StoredKey, &c.ServerKey} {
		b, err := base64.StdEncoding.DecodeString(fields[3+i])
		if err != nil {
			return Credential{}, fmt.Errorf("bad base64 in %s", [...]string{"salt", "StoredKey", "ServerKey"}[i])
		}
		*dst = b
	}
	if err := validCredential(c); err != nil {
		return Credential{}, err
	}
	return c, nil
}

func validCredential(c Credential) error {
	if err := validUser(c.User); err != nil {
		return err
	}
	if c.Iterations < MinIterations || c.Iterations > MaxIterations {
		return fmt.Errorf("iteration count %d out of range [%d, %d]", c.Iterations, MinIterations, MaxIterations)
	}
	if len(c.Salt) == 0 || len(c.Salt) > maxSaltLen {
		return fmt.Errorf("salt length %d out of range [1, %d]", len(c.Salt), maxSaltLen)
	}
	if len(c.StoredKey) != keyLen {
		return fmt.Errorf("StoredKey is %d bytes, want %d", len(c.StoredKey), keyLen)
	}
	if len(c.ServerKey) != keyLen {
		return fmt.Errorf("ServerKey is %d bytes, want %d", len(c.ServerKey), keyLen)
	}
	return nil
}

// validUser checks a qualified name: name@realm with neither part empty, and
// nothing that would break the file format.
func validUser(name string) error {
	at := strings.LastIndexByte(name, '@')
	if at <= 0 || at == len(name)-1 {
		return fmt.Errorf("user name %q must be name@realm with neither part empty", name)
	}
	if len(name) > 1024 {
		return errors.New("user name too long")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("user name %q is not UTF-8", name)
	}
	for _, r := range name {
		if r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("user name %q may not contain ':', spaces or control characters", name)
		}
	}
	if strings.HasPrefix(name, "#") {
		return fmt.Errorf("user name %q may not start with '#'", name)
	}
	return nil
}

func validRealm(realm string) error {
	if !utf8.ValidString(realm) {
		return fmt.Errorf("realm %q is not UTF-8", realm)
	}
	for _, r := range realm {
		if r == '@' || r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("realm %q may not contain '@', ':', spaces or control characters", realm)
		}
	}
	return nil
}
