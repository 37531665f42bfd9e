package kongsim

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
)

// Migrate runs `kong migrations <command>` (bootstrap, up, finish, list,
// status; reset needs the binary's --yes) of Kong version on the database
// at dsn, in process, as kongsim's `kong` binary does (internal/kongsim/cmd/kongsim-kong), and
// returns its exit code and output. Tests and the sandbox use it to prepare
// a database for a node: Migrate(ctx, dsn, "3.9.1", "bootstrap").
func Migrate(ctx context.Context, dsn, version, command string) (exit int, stdout, stderr string, err error) {
	v, err := kongrelease.Parse(version)
	if err != nil {
		return 0, "", "", err
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, "", "", fmt.Errorf("kongsim migrations: parse DSN: %w", err)
	}
	var out, errOut bytes.Buffer
	r := migrations.New(migrations.Connector(cc), migrations.Options{Version: v, Stdout: &out, Stderr: &errOut})
	code := r.Run(ctx, command)
	return code, out.String(), errOut.String(), nil
}
