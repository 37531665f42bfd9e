package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

const repoRoot = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// stage is one FROM and its instructions.
type stage struct {
	From, Name string
	Insts      []instruction
	Args       map[string]string // ARG defaults
}

func parseDockerfile(t *testing.T, path string) []*stage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []*stage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := slices.DeleteFunc(strings.Fields(in.Args), func(w string) bool { return strings.HasPrefix(w, "--") })
			st := &stage{From: f[0], Args: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", path, in.Cmd)
		}
		st := stages[len(stages)-1]
		if in.Cmd == "ARG" {
			k, v, _ := strings.Cut(in.Args, "=")
			st.Args[k] = v
		}
		st.Insts = append(st.Insts, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// Stamped into the test build, as the release's --build-arg would.
const (
	testVersion = "v0.0.0-dockerfile-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  string
	buildDir  string
)

// TestMain removes the binary the Dockerfile's build line made.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// dockerfileBinary runs the build stage's RUN lines as the image build
// would, outside a container: from the repository root (COPY . . into
// WORKDIR), with the stage's ARGs in the environment (VERSION and COMMIT
// set as --build-arg sets them) and the output directory /out/ moved to a
// temporary one. Once per test binary: the tests share it.
func dockerfileBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
		dir, err := os.MkdirTemp("", "upshift-dockerfile-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		buildDir = dir
		build := stages[0]
		env := os.Environ()
		for k, v := range build.Args {
			switch k {
			case "VERSION":
				v = testVersion
			case "COMMIT":
				v = testCommit
			}
			env = append(env, k+"="+v)
		}
		var ran int
		for _, in := range build.Insts {
			if in.Cmd != "RUN" {
				continue
			}
			script := strings.ReplaceAll(in.Args, "/out/", dir+"/")
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir, cmd.Env = repoRoot, env
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = "RUN " + in.Args + ": " + err.Error() + "\n" + string(out)
				return
			}
			ran++
		}
		buildBin = filepath.Join(dir, "upshift")
		if ran < 2 {
			buildErr = "the build stage has no go mod download and go build RUN lines"
		}
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	return buildBin
}

// TestDockerfileBuild runs the Dockerfile's build steps outside a
// container and checks what they make: a static binary that names the
// stamped version and commit.
func TestDockerfileBuild(t *testing.T) {
	bin := dockerfileBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: not static (CGO_ENABLED=0 missing?)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v: not static", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("upshift version: %v\n%s", err, out)
	}
	want := "upshift " + testVersion + "\ncommit " + testCommit + "\n" + runtime.Version() + " linux/" + runtime.GOARCH + "\n"
	if string(out) != want {
		t.Errorf("upshift version printed\n%s\nwant\n%s", out, want)
	}
}

// TestDockerfileImage checks the image's stages as far as reading them
// allows (the image itself is not built here: no container engine): the
// builder's Go is go.mod's, the final stage is a Debian slim image whose
// PostgreSQL client is the newest that release ships (checked against
// apt's candidate when this machine runs the same release), the user is
// not root and the entrypoint is the binary the build stage made.
func TestDockerfileImage(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, final)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVer == nil || !strings.HasPrefix(build.From, "golang:"+string(goVer[1])+"-") {
		t.Errorf("build stage FROM %s, want golang:%s-... (go.mod)", build.From, goVer[1])
	}
	var buildLine string
	for _, in := range build.Insts {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			buildLine = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/upshift"} {
		if !strings.Contains(buildLine, want) {
			t.Errorf("the go build line %q lacks %q", buildLine, want)
		}
	}

	codename, ok := strings.CutPrefix(final.From, "debian:")
	codename, _, _ = strings.Cut(codename, "-")
	if !ok || !strings.HasSuffix(final.From, "-slim") {
		t.Errorf("final stage FROM %s, want debian:RELEASE-slim", final.From)
	}
	pg := final.Args["PG_MAJOR"]
	var install, useradd string
	var user, entry, copied string
	for _, in := range final.Insts {
		switch in.Cmd {
		case "RUN":
			if strings.Contains(in.Args, "apt-get install") {
				install = in.Args
			}
			if strings.Contains(in.Args, "useradd") {
				useradd = in.Args
			}
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		case "COPY":
			if strings.HasPrefix(in.Args, "--from="+build.Name+" ") {
				copied = strings.Fields(in.Args)[2]
			}
		}
	}
	if pg == "" || !strings.Contains(install, `postgresql-client-${PG_MAJOR}`) {
		t.Errorf("final stage: PG_MAJOR %q, install %q: want postgresql-client-${PG_MAJOR}", pg, install)
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" || !strings.Contains(useradd, "--uid "+uid) {
		t.Errorf("USER %q: want a non-root UID made by useradd (%q)", user, useradd)
	}
	if copied == "" || entry != `["`+copied+`"]` {
		t.Errorf("ENTRYPOINT %s, want [%q] (the binary copied from the build stage)", entry, copied)
	}

	// The newest PostgreSQL client the final stage's Debian release ships:
	// apt's candidate for postgresql-client (the "supported version"
	// metapackage, 15+248 on bookworm) when this machine runs that release.
	osr, _ := os.ReadFile("/etc/os-release")
	host := regexp.MustCompile(`(?m)^VERSION_CODENAME=(\S+)`).FindSubmatch(osr)
	apt, err := exec.LookPath("apt-cache")
	if host == nil || string(host[1]) != codename || err != nil {
		t.Logf("not checked: the Debian release's PostgreSQL client (this machine is %q, the image %q, apt-cache %v)", host, codename, err)
		return
	}
	out, err := exec.Command(apt, "policy", "postgresql-client").Output()
	if err != nil {
		t.Fatalf("apt-cache policy postgresql-client: %v", err)
	}
	cand := regexp.MustCompile(`Candidate: (\d+)\+`).FindSubmatch(out)
	if cand == nil {
		t.Fatalf("apt-cache policy postgresql-client: no candidate in\n%s", out)
	}
	if string(cand[1]) != pg {
		t.Errorf("PG_MAJOR=%s, but Debian %s's postgresql-client is %s", pg, codename, cand[1])
	}
}
