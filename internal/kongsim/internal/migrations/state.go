package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Querier is what Inspect needs of a PostgreSQL connection. *pgx.Conn,
// *pgxpool.Pool and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// State is the migration state of a database as a Kong node of one version
// sees it (K: kong/db/migrations/state.lua). The maps go from subsystem to
// migration names in Kong's order; a subsystem with no names in a state is
// absent from that map. The maps are never nil.
type State struct {
	// NeedsBootstrap is true when the schema_meta table does not exist.
	// Then every known migration is listed as New.
	NeedsBootstrap bool
	Executed       map[string][]string
	Pending        map[string][]string
	New            map[string][]string
	Missing        map[string][]string
	// Classification holds the same facts per subsystem and migration, in
	// Kong's order, for callers that need the order or the teardown flags.
	Classification kongrelease.Classification
}

// UpToDate is Kong's is_up_to_date: bootstrapped and no new migrations
// (pending ones do not count: a node starts with them, logging a warning).
func (s State) UpToDate() bool { return !s.NeedsBootstrap && len(s.New) == 0 }

// Inspect reads schema_meta and classifies it for Kong version v. It only
// reads; it does not take the migrations lock. The node calls it at start
// (kong-facts §3.3 `kong start`): NeedsBootstrap → refuse; any New → refuse;
// Pending only → start and warn.
func Inspect(ctx context.Context, db Querier, v kongrelease.Version) (State, error) {
	rows, exists, err := readSchemaMeta(ctx, db)
	if err != nil {
		return State{}, err
	}
	return stateFrom(v, rows, !exists), nil
}

func stateFrom(v kongrelease.Version, rows []kongrelease.SchemaMetaRow, needsBootstrap bool) State {
	c := kongrelease.Classify(v, rows)
	return State{
		NeedsBootstrap: needsBootstrap,
		Executed:       c.Names(kongrelease.StateExecuted),
		Pending:        c.Names(kongrelease.StatePending),
		New:            c.Names(kongrelease.StateNew),
		Missing:        c.Names(kongrelease.StateMissing),
		Classification: c,
	}
}

// readSchemaMeta returns the schema_meta rows with key 'schema_meta', and
// whether the table exists (Kong looks it up among the tables of the
// current schema; so does to_regclass through search_path).
func readSchemaMeta(ctx context.Context, db Querier) ([]kongrelease.SchemaMetaRow, bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('schema_meta') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, false, fmt.Errorf("check schema_meta table: %w", err)
	}
	if !exists {
		return nil, false, nil
	}
	r, err := db.Query(ctx, `SELECT subsystem, last_executed, executed, pending FROM schema_meta WHERE key = 'schema_meta'`)
	if err != nil {
		return nil, true, fmt.Errorf("read schema_meta: %w", err)
	}
	defer r.Close()
	var out []kongrelease.SchemaMetaRow
	for r.Next() {
		var (
			row  kongrelease.SchemaMetaRow
			last *string
		)
		if err := r.Scan(&row.Subsystem, &last, &row.Executed, &row.Pending); err != nil {
			return nil, true, fmt.Errorf("read schema_meta row: %w", err)
		}
		if last != nil {
			row.LastExecuted = *last
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		return nil, true, fmt.Errorf("read schema_meta: %w", err)
	}
	return out, true, nil
}

// StartError is Kong's check_state at `kong start` (K:
// kong/cmd/utils/migrations.lua): the error a node refuses to start with,
// or nil. The caller prints it as the CLI does: "Error: " + message.
func (s State) StartError() error {
	switch {
	case s.NeedsBootstrap:
		return errors.New(needsBootstrapMsg)
	case len(s.New) > 0:
		return errors.New("New migrations available; run 'kong migrations up' to proceed")
	}
	return nil
}

// StartInfo is what `kong start` logs at info level after check_state
// passes (K: kong/cmd/start.lua): "Database is missing some migrations:"
// and "Database has pending migrations:" with the lists in `list` format;
// "" when there are neither.
func (s State) StartInfo() string {
	var b strings.Builder
	if m := s.Classification.Filter(kongrelease.StateMissing); len(m) > 0 {
		b.WriteString("Database is missing some migrations:\n" + formatList(m))
		b.WriteString("\n\n")
	}
	if p := s.Classification.Filter(kongrelease.StatePending); len(p) > 0 {
		b.WriteString("Database has pending migrations:\n" + formatList(p))
	} else if b.Len() > 0 {
		return strings.TrimSuffix(b.String(), "\n\n")
	}
	return b.String()
}

// NginxWarning is the warning each Kong worker logs at init when pending
// migrations exist (K: kong/init.lua: "database has pending migrations:\n"
// and the list); "" when there are none.
func (s State) NginxWarning() string {
	if p := s.Classification.Filter(kongrelease.StatePending); len(p) > 0 {
		return "database has pending migrations:\n" + formatList(p)
	}
	return ""
}
