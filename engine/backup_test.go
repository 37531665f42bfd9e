package engine

import "github.com/upshift-dev/upshift/backup"

var _ Backups = (*backup.Driver)(nil)
