package kong

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ParseDSN reads a PostgreSQL DSN, a URL (postgres://…) or keyword/value
// ("host=… dbname=…"), with pgx's parser: the one parser of the project,
// so that the kong command, backups and observation agree on what a DSN
// means. The password comes from the DSN or, as libpq does, from
// PGPASSWORD or a pgpass file; it travels only in DB.Password.
//
// TLS is taken from the DSN's own sslmode, sslrootcert, sslcert and
// sslkey: when the DSN names no sslmode, DB leaves TLS unset and Y's own
// kong.conf decides (pgx's default, prefer, is not a choice the operator
// made).
func ParseDSN(dsn string) (DB, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return DB{}, errors.New("invalid database DSN (not shown: it may hold a password)")
	}
	db := DB{Host: cfg.Host, Port: int(cfg.Port), Database: cfg.Database, User: cfg.User, Password: cfg.Password}
	params, err := dsnParams(dsn)
	if err != nil {
		return DB{}, err
	}
	db.SSLMode = params["sslmode"]
	switch db.SSLMode {
	case "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return DB{}, fmt.Errorf("database DSN: sslmode %q is not one of disable, allow, prefer, require, verify-ca, verify-full", db.SSLMode)
	}
	db.SSLRootCert, db.SSLCert, db.SSLKey = params["sslrootcert"], params["sslcert"], params["sslkey"]
	return db, nil
}

// Env is the database as Kong's environment: KONG_PG_HOST, _PORT,
// _DATABASE, _USER, _PASSWORD, and the TLS settings the DSN named:
//
//	sslmode disable, allow     KONG_PG_SSL=off (Kong cannot fall back to TLS)
//	sslmode prefer             KONG_PG_SSL=on, KONG_PG_SSL_REQUIRED=off
//	sslmode require            KONG_PG_SSL=on, KONG_PG_SSL_REQUIRED=on
//	verify-ca, verify-full     also KONG_PG_SSL_VERIFY=on and, from
//	                           sslrootcert, KONG_LUA_SSL_TRUSTED_CERTIFICATE
//	sslcert, sslkey            KONG_PG_SSL_CERT, KONG_PG_SSL_CERT_KEY
func (db DB) Env() []string {
	env := []string{
		"KONG_PG_HOST=" + db.Host,
		fmt.Sprintf("KONG_PG_PORT=%d", db.Port),
		"KONG_PG_DATABASE=" + db.Database,
		"KONG_PG_USER=" + db.User,
		"KONG_PG_PASSWORD=" + db.Password,
	}
	switch db.SSLMode {
	case "disable", "allow":
		env = append(env, "KONG_PG_SSL=off")
	case "prefer":
		env = append(env, "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=off")
	case "require":
		env = append(env, "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=on")
	case "verify-ca", "verify-full":
		env = append(env, "KONG_PG_SSL=on", "KONG_PG_SSL_REQUIRED=on", "KONG_PG_SSL_VERIFY=on")
		if db.SSLRootCert != "" {
			env = append(env, "KONG_LUA_SSL_TRUSTED_CERTIFICATE="+db.SSLRootCert)
		}
	}
	if db.SSLCert != "" {
		env = append(env, "KONG_PG_SSL_CERT="+db.SSLCert)
	}
	if db.SSLKey != "" {
		env = append(env, "KONG_PG_SSL_CERT_KEY="+db.SSLKey)
	}
	return env
}

// dsnParams is the DSN's settings as written (no defaults, no
// environment): a URL's query, or the keyword/value pairs. Only the TLS
// settings are read from it; pgconn.ParseConfig has validated the DSN.
func dsnParams(dsn string) (map[string]string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errors.New("invalid database URL (not shown: it may hold a password)")
		}
		m := map[string]string{}
		for k, v := range u.Query() {
			m[k] = v[len(v)-1]
		}
		return m, nil
	}
	m := map[string]string{}
	s := strings.TrimSpace(dsn)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("invalid database DSN (not shown: it may hold a password)")
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\n\r")
		var val strings.Builder
		quoted := len(s) > 0 && s[0] == '\''
		if quoted {
			s = s[1:]
		}
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				val.WriteByte(s[i])
				continue
			}
			if quoted && c == '\'' || !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				break
			}
			val.WriteByte(c)
		}
		if quoted {
			i++ // the closing quote
		}
		m[key] = val.String()
		if i > len(s) {
			i = len(s)
		}
		s = strings.TrimLeft(s[i:], " \t\n\r")
	}
	return m, nil
}
