//go:build !linux

package kongcli

import "os"

// stdinIsTTY approximates isatty(3) where TCGETS is not available.
func stdinIsTTY() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
