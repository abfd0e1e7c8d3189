package genconf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// update rewrites the golden files: go test ./internal/genconf -run Golden -update
// (or GENCONF_UPDATE=1 make unit).
var update = flag.Bool("update", false, "rewrite the golden files under cluster-conf/examples")

func updating() bool { return *update || os.Getenv("GENCONF_UPDATE") == "1" }

// confDir is the repository's cluster-conf directory.
const confDir = "../../cluster-conf"

// examples lists cluster-conf/examples/*.toml: name -> path.
func examples(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(confDir, "examples", "*.toml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples in %s/examples: %v", confDir, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), ".toml")] = p
	}
	return out
}

// generate loads a TOML file and renders its files.
func generate(t *testing.T, path string) (*Spec, []Output) {
	t.Helper()
	s, err := LoadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	files, err := s.Generate()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s, files
}

// TestGolden regenerates every example and compares the files byte for byte
// with cluster-conf/examples/<name>/, which must hold exactly those files.
func TestGolden(t *testing.T) {
	for name, path := range examples(t) {
		t.Run(name, func(t *testing.T) {
			_, files := generate(t, path)
			dir := filepath.Join(confDir, "examples", name)
			if updating() {
				old, _ := filepath.Glob(filepath.Join(dir, "*"))
				for _, o := range old {
					if err := os.Remove(o); err != nil {
						t.Fatal(err)
					}
				}
				if err := Write(dir, files); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", dir)
				return
			}
			want := map[string]bool{}
			for _, f := range files {
				want[f.Name] = true
				got, err := os.ReadFile(filepath.Join(dir, f.Name))
				if err != nil {
					t.Errorf("%v (run: go test ./internal/genconf -run Golden -update)", err)
					continue
				}
				if !bytes.Equal(got, f.Data) {
					t.Errorf("%s/%s differs from the generated file (run: go test ./internal/genconf -run Golden -update, and review the diff):\n%s",
						dir, f.Name, firstDiff(string(got), string(f.Data)))
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !want[e.Name()] {
					t.Errorf("%s/%s is not generated from %s any more: remove it (or run with -update)", dir, e.Name(), path)
				}
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(int64(i+1)) + ":\n  golden:    " + x + "\n  generated: " + y
		}
	}
	return "(no line differs)"
}

// TestExamplesWarnings: the lab's description is clean; the manual's only
// warns that it has no fencing, the TLS example also about the certificates'
// names.
func TestExamplesWarnings(t *testing.T) {
	want := map[string][]string{
		"lab":     nil,
		"manual":  {"no fencing"},
		"tls":     {"subjectAltNames", "no fencing"},
		"lab-tls": {"subjectAltNames"},
	}
	for name, path := range examples(t) {
		s, _ := generate(t, path)
		w, ok := want[name]
		if !ok {
			continue
		}
		if len(s.Warnings) != len(w) {
			t.Errorf("%s: warnings %q, want %d", name, s.Warnings, len(w))
			continue
		}
		for i := range w {
			if !strings.Contains(s.Warnings[i], w[i]) {
				t.Errorf("%s: warning %q, want one about %q", name, s.Warnings[i], w[i])
			}
		}
	}
}

// TestTemplate: the commented template with every key is a valid
// description.
func TestTemplate(t *testing.T) {
	s, files := generate(t, filepath.Join(confDir, "template.toml"))
	if len(files) != 2+len(s.nodes) {
		t.Errorf("%d files", len(files))
	}
	// Every key of the schema appears in the template.
	data, err := os.ReadFile(filepath.Join(confDir, "template.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range [][]string{nil, {"cluster"}, {"node"}, {"node", "fence"}, {"vip"}, {"broker"}, {"pacemaker"}, {"rgmanager"}, {"fence"}} {
		for _, k := range knownKeys(table) {
			if findKeyLine(string(data), k) == 0 && !strings.Contains(string(data), "["+strings.Join(append(append([]string{}, table...), k), ".")+"]") &&
				!strings.Contains(string(data), "[["+strings.Join(append(append([]string{}, table...), k), ".")+"]]") {
				t.Errorf("template.toml does not show %s", strings.Join(append(append([]string{}, table...), k), "."))
			}
		}
	}
}

// TestDeterministic: generating twice gives the same bytes (map order).
func TestDeterministic(t *testing.T) {
	for _, path := range examples(t) {
		_, a := generate(t, path)
		for i := 0; i < 5; i++ {
			_, b := generate(t, path)
			for j := range a {
				if !bytes.Equal(a[j].Data, b[j].Data) {
					t.Fatalf("%s: %s differs between runs", path, a[j].Name)
				}
			}
		}
	}
}

// TestWrite: files land with their modes; a password makes qpidd.conf 0600.
func TestWrite(t *testing.T) {
	paths := examples(t)
	_, files := generate(t, paths["manual"])
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "out"), files); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, "out", f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %v, want %v", f.Name, st.Mode().Perm(), f.Mode)
		}
		names = append(names, f.Name)
	}
	sort.Strings(names)
	want := []string{"cluster.conf", "pcs-setup.sh", "qpidd-node1.example.com.conf", "qpidd-node2.example.com.conf", "qpidd-node3.example.com.conf"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", names, want)
	}
	for _, f := range files {
		if strings.HasPrefix(f.Name, "qpidd-") && f.Mode != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (it holds ha-password)", f.Name, f.Mode)
		}
	}
}
