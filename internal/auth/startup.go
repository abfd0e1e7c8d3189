package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// AdminCommand is the command that manages user databases (package users).
const AdminCommand = "qpidd-users"

// StartupWarning is what a broker authenticating with db should log when it
// starts: that no one can log in because the file is missing or holds no
// user (naming the file and the command that adds users), or that the file
// is open to other users; "" when all is well.
func StartupWarning(db *DB) string {
	path := db.Path()
	if path == "" {
		return ""
	}
	hint := fmt.Sprintf("add users with: %s --database %s add USER", AdminCommand, path)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("auth-database %s does not exist: no one can log in (auth=yes); %s", path, hint)
	case err != nil:
		return fmt.Sprintf("auth-database %s: %v", path, err)
	case len(db.List()) == 0:
		return fmt.Sprintf("auth-database %s holds no users: no one can log in (auth=yes); %s", path, hint)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Sprintf("auth-database %s can be read by other users (mode %04o): it should be 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return ""
}
