package parquetlog

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func writePending(t *testing.T, p *pendingFile, content string) {
	t.Helper()
	if _, err := p.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestPendingFilesAppearWholeUnderTheirNames covers both kinds: unnamed
// files (Linux's O_TMPFILE), and the named ones where those are missing.
func TestPendingFilesAppearWholeUnderTheirNames(t *testing.T) {
	for name, create := range map[string]func(string) (*pendingFile, error){"createPending": createPending, "createNamed": createNamed} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := create(dir)
			if err != nil {
				t.Fatal(err)
			}
			writePending(t, p, "data")
			if err := p.publish("a.parquet", false); err != nil {
				t.Fatal(err)
			}
			q, err := create(dir)
			if err != nil {
				t.Fatal(err)
			}
			writePending(t, q, "other")
			if err := q.publish("a.parquet", false); err == nil {
				t.Error("publish without replace took the place of a file")
			}
			q.discard()
			for _, content := range []string{"v1", "v2"} {
				m, err := create(dir)
				if err != nil {
					t.Fatal(err)
				}
				writePending(t, m, content)
				if err := m.publish(ManifestName, true); err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, ManifestName)); string(b) != content {
					t.Errorf("the manifest holds %q after replacing it with %q", b, content)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "a.parquet")); string(b) != "data" {
				t.Errorf("a.parquet holds %q", b)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"a.parquet", ManifestName}) {
				t.Errorf("the folder holds %v", names)
			}
		})
	}
}

func TestNamedPendingFilesAreHiddenAndRemovedWhenStale(t *testing.T) {
	dir := t.TempDir()
	p, err := createNamed(dir)
	if err != nil {
		t.Fatal(err)
	}
	writePending(t, p, "partial")
	names := dirNames(t, dir)
	if len(names) != 1 || filepath.Ext(names[0]) != ".tmp" || names[0][:len(tempPrefix)] != tempPrefix {
		t.Fatalf("a named pending file is called %v, want %s*.tmp", names, tempPrefix)
	}
	p.Close() // as a killed run leaves it
	if err := os.WriteFile(filepath.Join(dir, "keep.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeStale(dir); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"keep.parquet"}) {
		t.Errorf("after removeStale the folder holds %v", names)
	}
	q, err := createNamed(dir)
	if err != nil {
		t.Fatal(err)
	}
	q.discard()
	if names := dirNames(t, dir); !slices.Equal(names, []string{"keep.parquet"}) {
		t.Errorf("after discard the folder holds %v", names)
	}
}
