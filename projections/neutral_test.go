package projections_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketd/ticketd/domain"
)

// TestEnginesNameNoEventType holds the engines neutral: no file of an engine
// package (Go or SQL, tests included) names an event type of the domain, so a
// new event type or read model costs no engine code.
func TestEnginesNameNoEventType(t *testing.T) {
	for _, dir := range []string{"../eventstore/sqlite", "../eventstore/postgres", "sqlite", "postgres", "sqlstore"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			text, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, typ := range domain.EventTypes {
				if strings.Contains(string(text), typ) {
					t.Errorf("%s names the event type %s", path, typ)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
