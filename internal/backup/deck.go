package backup

import (
	"context"
	"fmt"

	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/state"
	gokong "github.com/kong/go-kong/kong"
	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/kong"
)

// DeckDump is an application-level backup: what `deck gateway dump
// --with-id` produces, through decK's engine (go-database-reconciler),
// one Content per workspace ("" for open-source Kong, which has none).
type DeckDump struct {
	Workspaces map[string]*file.Content
}

// Dump takes a decK dump of the node behind c: dump.Get, state.Get and
// file.KongStateToContent with IDs, for every workspace when the node has
// workspaces (Enterprise), else once. It works the same on DB-mode,
// DB-less and data-plane nodes (all serve the list endpoints). Read-only
// and safe to repeat; cancellation aborts the requests.
//
// What it does not carry: RBAC roles and users, licenses, the keyring
// (Enterprise), and anything outside the database (see doc.go).
func Dump(ctx context.Context, c *kong.Client) (*DeckDump, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := &DeckDump{Workspaces: map[string]*file.Content{}}
	workspaces := []string{""}
	if info.Workspaces {
		ws, err := c.GoKong().Workspaces.ListAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("decK dump: list workspaces: %w", err)
		}
		workspaces = workspaces[:0]
		for _, w := range ws {
			if w.Name != nil {
				workspaces = append(workspaces, *w.Name)
			}
		}
	}
	for _, ws := range workspaces {
		gk := c.GoKong()
		if ws != "" {
			// A client per workspace: SetWorkspace mutates the client.
			gk, err = gokong.NewClient(gokong.String(c.AdminURL()), c.HTTPClient())
			if err != nil {
				return nil, fmt.Errorf("decK dump: workspace %q client: %w", ws, err)
			}
			gk.SetWorkspace(ws)
		}
		raw, err := dump.Get(ctx, gk, dump.Config{})
		if err != nil {
			return nil, fmt.Errorf("decK dump %s: %w", wsName(ws), err)
		}
		ks, err := state.Get(raw)
		if err != nil {
			return nil, fmt.Errorf("decK dump %s: build state: %w", wsName(ws), err)
		}
		content, err := file.KongStateToContent(ks, file.WriteConfig{WithID: true, Workspace: ws, KongVersion: info.Version.String(), FileFormat: file.YAML})
		if err != nil {
			return nil, fmt.Errorf("decK dump %s: %w", wsName(ws), err)
		}
		out.Workspaces[ws] = content
	}
	return out, nil
}

func wsName(ws string) string {
	if ws == "" {
		return "(no workspace)"
	}
	return "workspace " + ws
}

// YAML renders one workspace's dump as decK writes it.
func (d *DeckDump) YAML(ws string) ([]byte, error) {
	c, ok := d.Workspaces[ws]
	if !ok {
		return nil, fmt.Errorf("decK dump has no %s", wsName(ws))
	}
	return yaml.Marshal(c)
}

// Fingerprint is the configuration fingerprint of the dump (one workspace
// only: fingerprints of Enterprise multi-workspace nodes are not defined).
func (d *DeckDump) Fingerprint() (Fingerprint, error) {
	if len(d.Workspaces) != 1 {
		return Fingerprint{}, fmt.Errorf("fingerprint of a %d-workspace dump is not defined", len(d.Workspaces))
	}
	for _, c := range d.Workspaces {
		return FingerprintContent(c)
	}
	panic("unreachable")
}
