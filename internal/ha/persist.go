package ha

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// StateFile is the name of the HA state file in the data directory.
const StateFile = "ha-state.json"

// Persistent is what a broker remembers across restarts: its identity, the
// highest epoch it has seen (a promotion must go beyond it), the last
// replication position it holds, and the membership it last knew. The
// cluster manager's first start promotes the broker with the highest
// position, so a whole-cluster restart never promotes a stale broker.
type Persistent struct {
	BrokerID   string     `json:"broker-id"`
	Epoch      uint64     `json:"epoch"`
	Position   Position   `json:"position"`
	Membership Membership `json:"membership"`
}

// Store keeps Persistent in a file of the data directory, written
// atomically (temporary file, fsync, rename). With no directory it is only
// in memory.
type Store struct {
	path string

	mu    sync.Mutex
	state Persistent
}

// OpenStore reads the state file in dir (creating a broker id on first
// use). dir "" keeps the state in memory only.
func OpenStore(dir string) (*Store, error) {
	s := &Store{}
	if dir != "" {
		s.path = filepath.Join(dir, StateFile)
		data, err := os.ReadFile(s.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("HA state: %w", err)
		default:
			if err := json.Unmarshal(data, &s.state); err != nil {
				return nil, fmt.Errorf("HA state %s is corrupt (%v); remove it to start this broker afresh as a backup", s.path, err)
			}
		}
	}
	if s.state.BrokerID == "" {
		s.state.BrokerID = newID()
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Get returns a copy of the state.
func (s *Store) Get() Persistent {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Membership = st.Membership.Clone()
	return st
}

// Update changes the state and writes it.
func (s *Store) Update(f func(*Persistent)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.state)
	return s.save()
}

// Path is the state file, "" in memory.
func (s *Store) Path() string { return s.path }

func (s *Store) save() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("HA state: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("HA state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("HA state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("HA state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("HA state: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadPersistent reads a data directory's HA state without opening a store
// (the cluster manager's agent compares positions this way).
func ReadPersistent(dir string) (Persistent, error) {
	var p Persistent
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return p, err
	}
	err = json.Unmarshal(data, &p)
	return p, err
}
