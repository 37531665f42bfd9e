package engine

import "github.com/upshift-dev/upshift/internal/backup"

var _ Backups = (*backup.Driver)(nil)
