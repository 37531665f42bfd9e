package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/kong"
)

// This file verifies and restores declarative backups (Kong's GET /config
// export of a DB-less node or hybrid data plane). No scratch node is
// started: a declarative backup is verified by reading it as decK's own
// validation does (`deck file validate`: its JSON schema, then its state
// builder and in-memory state), by counting its entities that way, and by
// its content fingerprint, which must equal both the manifest's and X's as
// read now. The archive itself is what POST /config loads, unchanged.

// VerifyDeclarative proves a declarative backup loadable and current:
// the archive's size and SHA-256 match the manifest; decK's validation
// (through go-database-reconciler) accepts it and counts the same entities
// per kind as the manifest; its fingerprint equals the manifest's; and X
// (x, the node it was taken from) serves that same fingerprint now. The
// outcome is recorded in the manifest (saved) and returned, as Verify does
// for database-level backups.
//
// A mismatch or a rejected file is not an error: it is a Verification with
// OK false and the reason, which makes Manifest.Usable refuse the upgrade.
// The error is for not being able to try at all (archive unreadable, X
// unreadable). Read-only towards X; safe to repeat.
func VerifyDeclarative(ctx context.Context, m *Manifest, x *kong.Client) (*Verification, error) {
	start := time.Now()
	v := &Verification{At: start.UTC()}
	finish := func(ok bool, reason string) (*Verification, error) {
		v.OK, v.Reason, v.Duration = ok, reason, time.Since(start).Round(time.Millisecond).String()
		m.Verification = v
		if err := m.Save(); err != nil {
			return v, fmt.Errorf("verify %s: save manifest: %w", m.Name, err)
		}
		return v, nil
	}
	if m.Kind != KindDeclarative {
		return nil, fmt.Errorf("verify %s: a %s backup is verified by a test restore (Verify), not as a declarative configuration", m.Name, m.Kind)
	}
	if x == nil {
		return nil, fmt.Errorf("verify %s: no Admin API of X to compare the backup with", m.Name)
	}
	conf, reason, err := readDeclarative(m)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	if reason != "" {
		return finish(false, reason)
	}
	fp, err := FingerprintDeclarative(conf)
	if err != nil {
		return finish(false, "the archive does not parse: "+err.Error())
	}
	counts, err := DeckCounts(ctx, conf, m.KongVersion)
	if err != nil {
		return finish(false, "the archive is not a loadable configuration: "+strings.Join(strings.Fields(err.Error()), " "))
	}
	var diffs []string
	if !maps.Equal(counts, m.Fingerprint.Counts) {
		diffs = append(diffs, fmt.Sprintf("decK counts %s, manifest %s", countsText(counts), countsText(m.Fingerprint.Counts)))
	}
	if fp.Hash != m.Fingerprint.Hash || !maps.Equal(fp.Counts, m.Fingerprint.Counts) {
		diffs = append(diffs, fmt.Sprintf("archive fingerprint %s (%s), manifest %s", shortHash(fp.Hash), countsText(fp.Counts), shortHash(m.Fingerprint.Hash)))
	}
	if len(diffs) > 0 {
		return finish(false, "the archive differs from its manifest: "+strings.Join(diffs, "; "))
	}
	// Observed now, not the manifest's record of the backup time.
	live, err := x.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify %s: read X's configuration: %w", m.Name, err)
	}
	xfp, err := FingerprintDeclarative(live)
	if err != nil {
		return nil, fmt.Errorf("verify %s: fingerprint of X's configuration: %w", m.Name, err)
	}
	if xfp.Hash != m.Fingerprint.Hash {
		return finish(false, fmt.Sprintf("X serves another configuration now (fingerprint %s, %d entities; the backup's %s, %d entities): take a new backup",
			shortHash(xfp.Hash), xfp.Entities(), shortHash(m.Fingerprint.Hash), m.Fingerprint.Entities()))
	}
	return finish(true, fmt.Sprintf("declarative configuration accepted by decK's validation: %d entities (%s) and fingerprint %s match the manifest and X's configuration now",
		fp.Entities(), countsText(counts), shortHash(fp.Hash)))
}

// readDeclarative reads a declarative backup's archive and checks it
// against the manifest's size and SHA-256. A mismatch is a reason (the
// file is not the one backed up); the error is for a file that cannot be
// read at all.
func readDeclarative(m *Manifest) ([]byte, string, error) {
	conf, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Sprintf("the archive %s is missing", m.Archive), nil
		}
		return nil, "", fmt.Errorf("read archive: %w", err)
	}
	sum := sha256.Sum256(conf)
	if got := hex.EncodeToString(sum[:]); int64(len(conf)) != m.Size || got != m.SHA256 {
		return nil, fmt.Sprintf("the archive %s is not the file backed up (size %d, sha256 %s; manifest %d, %s)",
			m.Archive, len(conf), shortHash(got), m.Size, shortHash(m.SHA256)), nil
	}
	return conf, "", nil
}

// DeclarativeConfig returns a declarative backup's archive for loading
// into a node, after checking it is the file backed up (size and SHA-256
// of the manifest); a *RefusedError says why not.
func (m *Manifest) DeclarativeConfig() ([]byte, error) {
	if m.Kind != KindDeclarative {
		return nil, &RefusedError{Reason: fmt.Sprintf("backup %s is %s, not a declarative configuration", m.Name, m.Kind)}
	}
	conf, reason, err := readDeclarative(m)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", m.Name, err)
	}
	if reason != "" {
		return nil, &RefusedError{Reason: reason}
	}
	return conf, nil
}

// DeckCounts reads a declarative configuration in Kong's own format as
// `deck file validate` reads a file: decK's JSON schema, its state builder
// (file.Get, without a node) and its in-memory state (state.Get), and
// returns the entities per kind (table names, as Fingerprint.Counts) that
// decK ends up with. kongVersion ("3.9.1"; empty means 3.0) selects decK's
// version-dependent rules.
//
// Kong's export is first rewritten into decK's file shape, which only
// changes where entities sit: foreign keys as {"id": ...}, credentials,
// targets and SNIs nested under their parent, `_transform` left out
// (decK cannot read `_transform: false`; Kong's own loader does), and, as
// in a decK dump, no null members and no updated_at. A
// reference to an entity the file does not hold is an error here, as it
// is for Kong's POST /config.
func DeckCounts(ctx context.Context, conf []byte, kongVersion string) (map[string]int64, error) {
	doc, err := deckShape(conf)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// decK's validation reads files only (its schema check is internal to
	// its file reader).
	f, err := os.CreateTemp("", "upshift-declarative-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	content, err := file.GetContentFromFilesWithEnvVars([]string{f.Name()}, file.EnvVarsSkip)
	if err != nil {
		return nil, fmt.Errorf("decK's validation: %w", stripTempName(err, f.Name()))
	}
	ver := utils.Kong300Version
	if kongVersion != "" {
		if ver, err = utils.ParseKongVersion(kongVersion); err != nil {
			return nil, fmt.Errorf("kong version %q: %w", kongVersion, err)
		}
	}
	empty, err := state.NewKongState()
	if err != nil {
		return nil, err
	}
	raw, err := file.Get(ctx, content, file.RenderConfig{CurrentState: empty, KongVersion: ver}, dump.Config{}, nil)
	if err != nil {
		return nil, fmt.Errorf("decK's validation: %w", err)
	}
	if _, err := state.Get(raw); err != nil {
		return nil, fmt.Errorf("decK's validation: %w", err)
	}
	counts := map[string]int64{}
	add := func(kind string, n int) {
		if n > 0 {
			counts[kind] = int64(n)
		}
	}
	add("services", len(raw.Services))
	add("routes", len(raw.Routes))
	add("plugins", len(raw.Plugins))
	add("consumers", len(raw.Consumers))
	add("upstreams", len(raw.Upstreams))
	add("targets", len(raw.Targets))
	add("certificates", len(raw.Certificates))
	add("snis", len(raw.SNIs))
	add("ca_certificates", len(raw.CACertificates))
	add("vaults", len(raw.Vaults))
	add("keys", len(raw.Keys))
	add("key_sets", len(raw.KeySets))
	add("keyauth_credentials", len(raw.KeyAuths))
	add("basicauth_credentials", len(raw.BasicAuths))
	add("hmacauth_credentials", len(raw.HMACAuths))
	add("jwt_secrets", len(raw.JWTAuths))
	add("acls", len(raw.ACLGroups))
	add("oauth2_credentials", len(raw.Oauth2Creds))
	add("mtls_auth_credentials", len(raw.MTLSAuths))
	add("filter_chains", len(raw.FilterChains))
	add("consumer_groups", len(raw.ConsumerGroups))
	return counts, nil
}

// stripTempName keeps the temporary file's name out of decK's messages.
func stripTempName(err error, name string) error {
	return errors.New(strings.ReplaceAll(err.Error(), name, "the backup"))
}

// nestedUnder says which top-level kinds of Kong's export decK's file
// format only has nested under a parent: kind → (foreign key, parent kind,
// the list's name in the parent).
var nestedUnder = map[string]struct{ fk, parent, list string }{
	"targets":               {"upstream", "upstreams", "targets"},
	"snis":                  {"certificate", "certificates", "snis"},
	"keyauth_credentials":   {"consumer", "consumers", "keyauth_credentials"},
	"basicauth_credentials": {"consumer", "consumers", "basicauth_credentials"},
	"hmacauth_credentials":  {"consumer", "consumers", "hmacauth_credentials"},
	"jwt_secrets":           {"consumer", "consumers", "jwt_secrets"},
	"acls":                  {"consumer", "consumers", "acls"},
	"oauth2_credentials":    {"consumer", "consumers", "oauth2_credentials"},
	"mtls_auth_credentials": {"consumer", "consumers", "mtls_auth_credentials"},
}

// objectRefs are the foreign keys decK's file format writes as an object
// ({"id": ...}); the others it takes as a plain string, as Kong does.
var objectRefs = map[string][]string{
	"routes": {"service"}, "upstreams": {"client_certificate"}, "keys": {"set"},
}

// deckShape rewrites Kong's declarative format (flat lists per kind,
// foreign keys as IDs; entities may also be nested) into decK's file shape.
// Every reference must name an entity of the file.
func deckShape(conf []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(conf)
	if err != nil {
		return nil, fmt.Errorf("parse declarative configuration: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var top map[string]any
	if err := d.Decode(&top); err != nil {
		return nil, fmt.Errorf("parse declarative configuration: %w", err)
	}
	if top == nil {
		return nil, errors.New("the declarative configuration is empty")
	}
	delete(top, "_transform")
	// Flatten what Kong's format nests, so that every entity is found by
	// kind and id below; nesting is then decK's.
	flat := map[string][]map[string]any{}
	var problems []string
	var walk func(kind string, v any, parentFK, parentID string)
	walk = func(kind string, v any, parentFK, parentID string) {
		list, ok := v.([]any)
		if !ok {
			problems = append(problems, kind+" is not a list")
			return
		}
		for _, e := range list {
			obj, ok := e.(map[string]any)
			if !ok {
				problems = append(problems, "a "+kind+" entry is not an object")
				continue
			}
			id, _ := obj["id"].(string)
			for k, child := range obj {
				if _, isList := child.([]any); isList && k != kind && (foreignKeys[k] != nil || k == "consumers") {
					if pk, ok := parentKey[kind]; ok {
						walk(k, child, pk, id)
						delete(obj, k)
					}
				}
			}
			if parentFK != "" {
				obj[parentFK] = parentID
			}
			// As a decK dump has them: no nulls, no updated_at (neither
			// is part of the fingerprint either).
			stripNulls(obj)
			delete(obj, "updated_at")
			flat[kind] = append(flat[kind], obj)
		}
	}
	for kind, v := range top {
		if !strings.HasPrefix(kind, "_") {
			walk(kind, v, "", "")
		}
	}
	ids := map[string]map[string]map[string]any{}
	for kind, list := range flat {
		ids[kind] = map[string]map[string]any{}
		for _, obj := range list {
			id, _ := obj["id"].(string)
			if id == "" {
				problems = append(problems, fmt.Sprintf("a %s entry has no id", kind))
				continue
			}
			if _, dup := ids[kind][id]; dup {
				problems = append(problems, fmt.Sprintf("%s %s appears twice", kind, id))
			}
			ids[kind][id] = obj
		}
	}
	out := map[string]any{}
	for k, v := range top {
		if strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	kinds := make([]string, 0, len(flat))
	for kind := range flat {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		for _, obj := range flat[kind] {
			id, _ := obj["id"].(string)
			// Every foreign key must name an entity the file holds.
			for _, fk := range foreignKeys[kind] {
				ref := refID(obj[fk])
				if ref == "" {
					continue
				}
				if _, ok := ids[parentKind(fk)][ref]; !ok {
					problems = append(problems, fmt.Sprintf("%s %s refers to %s %s, which the configuration does not hold", kind, id, fk, ref))
				}
			}
			if n, ok := nestedUnder[kind]; ok {
				ref := refID(obj[n.fk])
				parent := ids[n.parent][ref]
				if parent == nil {
					if ref == "" {
						problems = append(problems, fmt.Sprintf("%s %s has no %s", kind, id, n.fk))
					}
					continue
				}
				delete(obj, n.fk)
				l, _ := parent[n.list].([]any)
				parent[n.list] = append(l, obj)
				continue
			}
			for _, fk := range objectRefs[kind] {
				if ref := refID(obj[fk]); ref != "" {
					obj[fk] = map[string]any{"id": ref}
				}
			}
			l, _ := out[kind].([]any)
			out[kind] = append(l, obj)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// refID is the id a foreign key holds, written as a string or {"id": ...}.
func refID(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["id"].(string)
		return s
	}
	return ""
}

// parentKind is the kind a foreign-key field names.
func parentKind(fk string) string {
	switch fk {
	case "client_certificate", "certificate":
		return "certificates"
	case "set":
		return "key_sets"
	}
	return fk + "s"
}

func countsText(c map[string]int64) string {
	kinds := make([]string, 0, len(c))
	for k := range c {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, c[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// DeclarativeRestoreOptions says where to load a declarative backup.
type DeclarativeRestoreOptions struct {
	Manifest *Manifest
	// Target is the Admin API of the DB-less node to load it into.
	Target *kong.Client
	// AllowReplace permits replacing a configuration other than this
	// backup's on a node that serves entities (as RestoreOptions).
	AllowReplace bool
}

// RestoreDeclarative loads a declarative backup into a DB-less node with
// POST /config, choosing the mode from what the node serves now, read in
// this call:
//
//   - the same fingerprint as the backup: nothing to do (ActionUnchanged);
//   - no entities: load (ActionEmpty);
//   - another configuration: refused (*RefusedError), unless AllowReplace
//     (ActionReplaced).
//
// The archive's size and SHA-256 are checked first. After the load the
// node's configuration is read back: the restore succeeded only when the
// node serves the backup's fingerprint (a 201 alone is not evidence).
// Safe to repeat. A node that cannot be read is an error, never a load.
func RestoreDeclarative(ctx context.Context, o DeclarativeRestoreOptions) (RestoreResult, error) {
	m := o.Manifest
	if m == nil || o.Target == nil {
		return RestoreResult{}, errors.New("restore: a manifest and a target node are required")
	}
	res := RestoreResult{Node: withoutUserinfo(o.Target.AdminURL())}
	if m.Kind != KindDeclarative {
		return res, &RefusedError{Reason: fmt.Sprintf("%s is a %s backup: it restores into a database, not into a DB-less node", m.Name, m.Kind)}
	}
	conf, reason, err := readDeclarative(m)
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", m.Name, err)
	}
	if reason != "" {
		return res, &RefusedError{Reason: reason}
	}
	served := func() (Fingerprint, error) {
		c, err := o.Target.Config(ctx)
		if err != nil {
			return Fingerprint{}, fmt.Errorf("read the target node's configuration (it must be a DB-less node): %w", err)
		}
		return FingerprintDeclarative(c)
	}
	cur, err := served()
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", m.Name, err)
	}
	switch {
	case cur.Hash == m.Fingerprint.Hash:
		res.Action = ActionUnchanged
		return res, nil
	case cur.Entities() == 0:
		res.Action = ActionEmpty
	case !o.AllowReplace:
		return res, &RefusedError{Reason: fmt.Sprintf("the target node serves another configuration (%d entities, fingerprint %s): "+
			"Upshift replaces it only when the plan says rollback { restore = true }", cur.Entities(), shortHash(cur.Hash))}
	default:
		res.Action = ActionReplaced
	}
	if err := o.Target.PostConfig(ctx, conf); err != nil {
		return res, fmt.Errorf("restore %s: %w", m.Name, err)
	}
	after, err := served()
	if err != nil {
		return res, fmt.Errorf("restore %s: after the load: %w", m.Name, err)
	}
	if after.Hash != m.Fingerprint.Hash {
		return res, fmt.Errorf("restore %s: the node accepted the configuration but serves fingerprint %s (%d entities), not the backup's %s (%d entities)",
			m.Name, shortHash(after.Hash), after.Entities(), shortHash(m.Fingerprint.Hash), m.Fingerprint.Entities())
	}
	return res, nil
}

// withoutUserinfo drops any user and password from an Admin URL for
// messages.
func withoutUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an Admin URL that does not parse)"
	}
	u.User = nil
	return u.String()
}
