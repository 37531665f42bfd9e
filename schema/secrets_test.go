package schema

import "testing"

// MaskSecrets hides what UP028 refuses, and nothing else.
func TestMaskSecrets(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`dsn = "postgres://kong:pw@db/kong"`, `dsn = "postgres://kong:***@db/kong"`},
		{`dsn = "postgres://kong:p@ss@db/kong"`, `dsn = "postgres://kong:***@db/kong"`}, // url.Parse splits at the last '@'
		{`dsn = "postgres://kong@db/kong"`, `dsn = "postgres://kong@db/kong"`},
		{`dsn = "postgres://db/kong?sslmode=off&password=pw"`, `dsn = "postgres://db/kong?sslmode=off&password=***"`},
		{`dsn = "host=h password=pw dbname=k"`, `dsn = "host=h password=*** dbname=k"`},
		{`dsn = "host=h PASSWORD = 'a b\' c' dbname=k"`, `dsn = "host=h PASSWORD = *** dbname=k"`},
		{`admin_token = "tok"`, `admin_token = "***"`},
		{`node "a" { admin_token = "t\"ok" }`, `node "a" { admin_token = "***" }`},
		{`admin_token = env("KONG_TOKEN")`, `admin_token = env("KONG_TOKEN")`},
		{`webhook_url = "https://hooks.slack.com/services/T/B/x"`, `webhook_url = "***"`},
		{"a = \"postgres://u:one@h/d\"\nb = \"postgres://u:two@h/d\"", "a = \"postgres://u:***@h/d\"\nb = \"postgres://u:***@h/d\""},
		{`admin_url = "http://x:8001"`, `admin_url = "http://x:8001"`},
		{`leave the password to PGPASSWORD`, `leave the password to PGPASSWORD`},
	} {
		if got := MaskSecrets(c.in); got != c.want {
			t.Errorf("MaskSecrets(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// MaskOffset keeps offsets before a secret, moves those inside it to the
// mask's start and shifts those after it.
func TestMaskOffset(t *testing.T) {
	s := `x = "postgres://u:secret@h/d"` // secret at [18, 24)
	spans := SecretSpans(s)
	if len(spans) != 1 || spans[0] != [2]int{18, 24} {
		t.Fatalf("spans = %v", spans)
	}
	masked := MaskSecrets(s)
	for off, want := range map[int]int{4: 4, 18: 18, 20: 18, 24: 21, len(s): len(masked)} {
		if got := MaskOffset(spans, off); got != want {
			t.Errorf("MaskOffset(%d) = %d, want %d", off, got, want)
		}
	}
}
