package kong

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

var kongBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	if kongBin.dir != "" {
		os.RemoveAll(kongBin.dir)
	}
	os.Exit(code)
}

// kongsimKong builds kongsim's kong CLI once per test binary.
func kongsimKong(t *testing.T) string {
	t.Helper()
	kongBin.once.Do(func() {
		kongBin.dir, kongBin.err = os.MkdirTemp("", "upshift-kong-bin-")
		if kongBin.err != nil {
			return
		}
		kongBin.path = filepath.Join(kongBin.dir, "kong")
		out, err := exec.Command("go", "build", "-o", kongBin.path, "github.com/upshift-dev/upshift/internal/kongsim/cmd/kongsim-kong").CombinedOutput()
		if err != nil {
			kongBin.err = err
			kongBin.path = string(out)
		}
	})
	if kongBin.err != nil {
		t.Fatalf("build kongsim's kong: %v\n%s", kongBin.err, kongBin.path)
	}
	return kongBin.path
}

// dbOf splits a test DSN into the DB a Command needs.
func dbOf(t *testing.T, dsn string) DB {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	return DB{Host: u.Hostname(), Port: port, Database: u.Path[1:], User: u.User.Username(), Password: pw}
}
