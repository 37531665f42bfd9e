package schema

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/upshift-dev/upshift/plan"
)

// namedValue is one env-capable attribute of a plan, with its path in the
// plan for messages ("to.database.dsn").
type namedValue struct {
	path string
	v    plan.Value
	// secret: a literal here is UP028 (tokens) or is checked for an
	// embedded password (DSNs).
	secret, dsn bool
}

// values lists every env-capable attribute that is set.
func values(p *plan.Plan) []namedValue {
	var out []namedValue
	add := func(path string, v plan.Value, secret, dsn bool) {
		if v.Set {
			out = append(out, namedValue{path, v, secret, dsn})
		}
	}
	for _, s := range []struct {
		name string
		side *plan.Side
	}{{"from", p.From}, {"to", p.To}} {
		if s.side == nil {
			continue
		}
		add(s.name+".admin_url", s.side.AdminURL, false, false)
		add(s.name+".admin_token", s.side.AdminToken, true, false)
		add(s.name+".status_url", s.side.StatusURL, false, false)
		add(s.name+".proxy_url", s.side.ProxyURL, false, false)
		if s.side.Database != nil {
			add(s.name+".database.dsn", s.side.Database.DSN, false, true)
		}
		for _, n := range s.side.Nodes {
			pre := fmt.Sprintf("%s.node[%q]", s.name, n.Name)
			add(pre+".admin_url", n.AdminURL, false, false)
			add(pre+".admin_token", n.AdminToken, true, false)
			add(pre+".status_url", n.StatusURL, false, false)
			add(pre+".proxy_url", n.ProxyURL, false, false)
		}
	}
	if cp := p.ControlPlane; cp != nil {
		add("control_plane.admin_url", cp.AdminURL, false, false)
		add("control_plane.admin_token", cp.AdminToken, true, false)
	}
	for _, nt := range tlsBlocks(p) {
		add(nt.path+".ca_file", nt.t.CAFile, false, false)
		add(nt.path+".cert_file", nt.t.CertFile, false, false)
		// A key written into the plan as PEM is a credential in Git.
		add(nt.path+".key_file", nt.t.KeyFile, strings.Contains(nt.t.KeyFile.Literal, "PRIVATE KEY"), false)
		add(nt.path+".server_name", nt.t.ServerName, false, false)
	}
	if p.Backup != nil {
		add("backup.verify_dsn", p.Backup.VerifyDSN, false, true)
	}
	for _, a := range p.Analyses {
		add(fmt.Sprintf("analysis[%q].prometheus", a.Name), a.Prometheus, false, false)
	}
	for _, c := range p.Checks {
		if c.Request == nil {
			continue
		}
		keys := make([]string, 0, len(c.Request.Headers))
		for k := range c.Request.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			add(fmt.Sprintf("check[%q].request.headers[%q]", c.Name, k), c.Request.Headers[k], false, false)
		}
	}
	for _, n := range p.Notify {
		// A Slack incoming-webhook URL is itself the credential.
		add(fmt.Sprintf("notify[%q].webhook_url", n.Kind), n.WebhookURL, true, false)
		add(fmt.Sprintf("notify[%q].url", n.Kind), n.URL, false, false)
		// The HMAC key: a literal is UP028, it belongs in the environment.
		add(fmt.Sprintf("notify[%q].secret", n.Kind), n.Secret, true, false)
	}
	return out
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkValues applies UP026–UP029.
func (l *linter) checkValues() {
	p := l.plan
	for _, nv := range values(p) {
		v := nv.v
		if v.IsEnv {
			switch {
			case !v.EnvOK:
				l.reportf(ruleEnvShape, v.EnvArgRange, "%s: env() takes one string literal, the variable's name.", nv.path)
			case !envNameRE.MatchString(v.EnvName):
				l.reportf(ruleEnvShape, v.EnvArgRange, "%s: %q is not a variable name.", nv.path, v.EnvName)
			case l.opts.StrictEnv:
				if _, ok := l.opts.LookupEnv(v.EnvName); !ok {
					l.reportf(ruleEnvUnset, v.Range, "%s: %s is not set.", nv.path, v.EnvName)
				}
			}
			continue
		}
		if nv.secret && v.Literal != "" {
			l.report(ruleInlineSecret, v.Range, "", fmt.Sprintf("%s is a credential written in the plan. %s", nv.path, ruleInlineSecret.Fix))
		}
		if nv.dsn && dsnHasPassword(v.Literal) {
			l.report(ruleInlineSecret, v.Range, "", fmt.Sprintf("%s embeds a password. %s", nv.path, ruleInlineSecret.Fix))
		}
	}
	l.checkNotifyURLs(p)
	if p.To != nil {
		l.checkPlaceholders(p.To.Kong, plan.AllowedPlaceholders)
	}
	if p.Traffic != nil && p.Traffic.Kind == "command" {
		l.checkPlaceholders(p.Traffic.Set, plan.TrafficCommandPlaceholders)
	}
}

// checkNotifyURLs applies UP046 to the notify blocks' literal URLs (an
// env() one is checked when apply or the agent resolves it).
func (l *linter) checkNotifyURLs(p *plan.Plan) {
	for _, n := range p.Notify {
		for _, v := range []plan.Value{n.URL, n.WebhookURL} {
			if !v.Set || v.IsEnv {
				continue
			}
			if u, err := url.Parse(v.Literal); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				// The URL is not quoted: a Slack URL's path is its credential.
				l.reportf(ruleNotifyURL, v.Range, "notify %q: the URL is not an http:// or https:// URL with a host.", n.Kind)
			}
		}
	}
}

// checkPlaceholders applies UP029 to Y's kong argv and the traffic
// command's set argv.
func (l *linter) checkPlaceholders(a plan.Argv, allowed []string) {
	names, ranges := a.Placeholders()
	for i, n := range names {
		if slices.Contains(allowed, n) {
			continue
		}
		if n == "pg_password" {
			l.report(rulePlaceholder, ranges[i], "Password placeholder in the kong command",
				"{pg_password} would put the database password in argv, where any process listing shows it. Upshift passes the password only as KONG_PG_PASSWORD in the kong command's environment: remove this argument.")
			continue
		}
		l.report(rulePlaceholder, ranges[i], "", fmt.Sprintf("{%s} is not substituted here; only {%s} are.%s", n, strings.Join(allowed, "} {"), plan.DidYouMean(n, allowed)))
	}
}

// dsnHasPassword reports whether a literal DSN embeds a password, in URL
// form (postgres://user:pw@host/db) or keyword form (password=pw).
func dsnHasPassword(s string) bool {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			// An unparsable URL with a ':' before an '@' in its authority
			// still looks like user:password@host; refuse it.
			auth, _, _ := strings.Cut(strings.SplitN(s, "://", 2)[1], "/")
			user, _, hasAt := strings.Cut(auth, "@")
			return hasAt && strings.Contains(user, ":")
		}
		if _, ok := u.User.Password(); ok {
			return true
		}
		return u.Query().Has("password")
	}
	_, ok := dsnKeywords(s)["password"]
	return ok
}

// dsnKeywords parses a keyword/value DSN ("host=h port=5432 dbname=kong").
func dsnKeywords(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[strings.ToLower(k)] = strings.Trim(v, `'`)
		}
	}
	return out
}

// dsnIdentity returns host:port/dbname for a literal DSN, "" when it
// cannot tell.
func dsnIdentity(s string) string {
	host, port, db := "", "5432", ""
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		host, db = u.Hostname(), strings.TrimPrefix(u.Path, "/")
		if u.Port() != "" {
			port = u.Port()
		}
		if q := u.Query(); q.Get("host") != "" {
			host = q.Get("host")
		}
		if q := u.Query(); q.Get("dbname") != "" {
			db = q.Get("dbname")
		}
	} else {
		kw := dsnKeywords(s)
		host, db = kw["host"], kw["dbname"]
		if kw["port"] != "" {
			port = kw["port"]
		}
	}
	if host == "" || host == "127.0.0.1" || host == "::1" {
		host = "localhost"
	}
	if db == "" {
		return ""
	}
	return strings.ToLower(host) + ":" + port + "/" + db
}

// sameDatabase reports whether two DSN values certainly name one database:
// the same env() variable, or literals with the same host, port and
// database name. A literal against an env() cannot be told apart at lint
// time (the engine checks again at apply time).
func sameDatabase(x, y plan.Value) (bool, string) {
	switch {
	case x.IsEnv && y.IsEnv:
		if x.EnvOK && x.EnvName == y.EnvName {
			return true, fmt.Sprintf("both read %s", x.EnvName)
		}
	case !x.IsEnv && !y.IsEnv:
		if x.Literal == y.Literal && x.Literal != "" {
			return true, "the same DSN"
		}
		if ix, iy := dsnIdentity(x.Literal), dsnIdentity(y.Literal); ix != "" && ix == iy {
			return true, "the same host, port and database " + ix
		}
	}
	return false, ""
}
