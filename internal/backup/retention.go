package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// List returns the plan's backups in dir, oldest first (manifests that do
// not parse are skipped and reported in the error, after the list).
func List(dir, plan string) ([]*Manifest, error) {
	paths, err := filepath.Glob(filepath.Join(dir, plan+"-*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	var errs []error
	for _, p := range paths {
		m, err := LoadManifest(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Plan == plan {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, errors.Join(errs...)
}

// Latest is the plan's newest backup, or nil.
func Latest(dir, plan string) (*Manifest, error) {
	l, err := List(dir, plan)
	if len(l) == 0 {
		return nil, err
	}
	return l[len(l)-1], err
}

// Prune keeps the plan's newest keep backups and removes the others
// (archive, decK dump, manifest last); keep <= 0 keeps all. It never
// removes the newest verified backup, even past keep. It returns the
// names removed. Safe to repeat.
func Prune(dir, plan string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	list, err := List(dir, plan)
	if err != nil {
		return nil, err
	}
	newestVerified := ""
	for _, m := range list {
		if m.Usable() == nil {
			newestVerified = m.Name
		}
	}
	var removed []string
	for i, m := range list {
		if i >= len(list)-keep || m.Name == newestVerified {
			continue
		}
		for _, f := range []string{m.Archive, deckFile(m)} {
			if f == "" || strings.ContainsAny(f, `/\`) {
				continue
			}
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
				return removed, fmt.Errorf("prune %s: %w", m.Name, err)
			}
		}
		if err := os.Remove(m.Path()); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("prune %s: %w", m.Name, err)
		}
		removed = append(removed, m.Name)
	}
	return removed, nil
}

func deckFile(m *Manifest) string {
	if m.Deck == nil {
		return ""
	}
	return m.Deck.File
}

// normRows makes nil and empty slices compare equal.
func normRows(rows []kongrelease.SchemaMetaRow) []kongrelease.SchemaMetaRow {
	out := make([]kongrelease.SchemaMetaRow, len(rows))
	for i, r := range rows {
		out[i] = kongrelease.SchemaMetaRow{Subsystem: r.Subsystem, LastExecuted: r.LastExecuted,
			Executed: append([]string{}, r.Executed...), Pending: append([]string{}, r.Pending...)}
	}
	return out
}
