package parquetlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// ManifestName is the manifest's file name in an export folder.
const ManifestName = "manifest.json"

// Manifest lists the files of an export folder in position order. Together
// they hold every event of the log from the first file's first position to
// the last one's last position, each once.
type Manifest struct {
	Files []ManifestFile `json:"files"`
}

// ManifestFile is one file of an export folder.
type ManifestFile struct {
	Name          string `json:"name"`
	FirstPosition int64  `json:"first_position"`
	LastPosition  int64  `json:"last_position"`
	Rows          int64  `json:"rows"`
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// LastHash is the log's hash at LastPosition: with it, a head that
	// `ticketd verify --expect-head LAST_POSITION:LAST_HASH` checks.
	LastHash string `json:"last_hash"`
}

// Last returns the last position the manifest's files hold and the log's
// hash there; 0 and "" when it lists none.
func (m Manifest) Last() (position int64, hash string) {
	if len(m.Files) == 0 {
		return 0, ""
	}
	f := m.Files[len(m.Files)-1]
	return f.LastPosition, f.LastHash
}

// fileName is the name of the file of positions first to last: zero-padded
// so that names sort in position order.
func fileName(first, last int64) string {
	return fmt.Sprintf("events-%019d-%019d.parquet", first, last)
}

var fileNamePattern = regexp.MustCompile(`^events-(\d{19})-(\d{19})\.parquet$`)

// parseFileName returns the positions a file name of fileName's form
// holds, or ok=false for any other name.
func parseFileName(name string) (first, last int64, ok bool) {
	m := fileNamePattern.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	return first, last, err1 == nil && err2 == nil && first >= 1 && first <= last
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// readManifest reads dir's manifest; a folder without one has an empty
// manifest. It fails when the manifest is not one Export writes: files
// named otherwise, positions that do not follow on, rows that do not
// match them, hashes that are not SHA-256 hex.
func readManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, nil
	}
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	for i, f := range m.Files {
		first, last, ok := parseFileName(f.Name)
		switch {
		case !ok || first != f.FirstPosition || last != f.LastPosition:
			return Manifest{}, fmt.Errorf("%s: file %d: name %q does not match positions %d to %d", path, i+1, f.Name, f.FirstPosition, f.LastPosition)
		case f.Rows != last-first+1:
			return Manifest{}, fmt.Errorf("%s: %s: %d rows for positions %d to %d", path, f.Name, f.Rows, first, last)
		case i > 0 && first != m.Files[i-1].LastPosition+1:
			return Manifest{}, fmt.Errorf("%s: %s does not follow on from %s", path, f.Name, m.Files[i-1].Name)
		case !hexHash.MatchString(f.SHA256) || !hexHash.MatchString(f.LastHash):
			return Manifest{}, fmt.Errorf("%s: %s: sha256 and last_hash must be 64 lowercase hex digits", path, f.Name)
		}
	}
	return m, nil
}

// prepareManifest writes m to a pending file in dir, synced, which
// publish(ManifestName, true) then puts in the manifest's place in one
// step: a reader sees the old manifest or the new one, whole.
func prepareManifest(dir string, m Manifest) (*pendingFile, error) {
	if m.Files == nil {
		m.Files = []ManifestFile{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	p, err := createPending(dir)
	if err != nil {
		return nil, err
	}
	if _, err := p.Write(append(b, '\n')); err != nil {
		p.discard()
		return nil, err
	}
	if err := p.Sync(); err != nil {
		p.discard()
		return nil, err
	}
	return p, nil
}
