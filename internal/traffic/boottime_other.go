//go:build !linux

package traffic

import (
	"errors"
	"time"
)

// bootTime: the nginx driver reads nginx's processes from /proc (Linux).
func bootTime() (time.Time, error) {
	return time.Time{}, errors.New("telling whether nginx loaded the upstream file needs Linux's /proc")
}
