package genconf

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Output is one generated file.
type Output struct {
	Name string      // file name in the output directory
	Data []byte      // contents
	Mode fs.FileMode // permissions
}

// Names of the generated files.
const (
	ClusterConfName = "cluster.conf"
	PcsScriptName   = "pcs-setup.sh"
)

// QpiddConfName is the name of node's qpidd.conf.
func QpiddConfName(node string) string { return "qpidd-" + node + ".conf" }

// Generate renders every file: cluster.conf, pcs-setup.sh and one
// qpidd-<node>.conf per node, in that order. Each qpidd.conf is read back
// the way qpidd reads it, as a last check.
func (s *Spec) Generate() ([]Output, error) {
	out := []Output{
		{Name: ClusterConfName, Data: s.ClusterConf(), Mode: 0o644},
		{Name: PcsScriptName, Data: s.PcsScript(), Mode: 0o755},
	}
	for i, nd := range s.nodes {
		data := s.QpiddConf(i)
		if _, err := loadConfText(string(data)); err != nil {
			return nil, fmt.Errorf("the qpidd.conf generated for %s does not load: %v", nd.name, err)
		}
		mode := fs.FileMode(0o644)
		if s.File.Broker.HAPassword != "" {
			mode = 0o600
		}
		out = append(out, Output{Name: QpiddConfName(nd.name), Data: data, Mode: mode})
	}
	return out, nil
}

// Write writes the files into dir (created if needed), each through a
// temporary file renamed into place.
func Write(dir string, files []Output) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(f.Data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), f.Mode)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, f.Name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}
