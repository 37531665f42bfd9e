package schema

import "sort"

// The rule table. IDs are stable: a rule is never renumbered, and a
// removed rule's ID is never reused.
var (
	ruleVersionInvalid = &Rule{ID: "UP001", Severity: SeverityError,
		Summary: "Version is not a Kong version",
		Fix:     `Write X.Y.Z for open source ("3.9.1") or X.Y.Z.B for Enterprise ("3.4.3.12").`}
	ruleDowngrade = &Rule{ID: "UP002", Severity: SeverityError,
		Summary: "Downgrade",
		Fix:     "Kong's migrations are not reversible: to.version must not be older than from.version. To go back, restore the backup taken before the upgrade."}
	ruleSameVersion = &Rule{ID: "UP003", Severity: SeverityInfo,
		Summary: "Stay on / roll back to the current version",
		Fix:     "to.version equals from.version: the plan keeps (or brings back) cluster X. Nothing to fix if that is the intent."}
	rulePath = &Rule{ID: "UP004", Severity: SeverityError,
		Summary: "Not a guaranteed upgrade path",
		Fix:     "Kong guarantees patch → patch, a series to the next, and an LTS to the next LTS (2.8, 3.4, 3.10, 3.14). Split the upgrade into one plan per hop, chained with depends_on."}
	rule1x = &Rule{ID: "UP005", Severity: SeverityError,
		Summary: "Kong 3.x migrates only from 2.1 or later",
		Fix:     "Upgrade 1.x (and 2.0) to 2.1 or later first, then on through 2.8 (LTS)."}
	ruleBlueGreenMin = &Rule{ID: "UP006", Severity: SeverityError, Acknowledgeable: true,
		Summary: "Blue-green needs 2.8.2 or later",
		Fix:     "Upgrade X to at least 2.8.2 with another strategy first, or use dual_cluster."}
	ruleBlueGreenPatch = &Rule{ID: "UP007", Severity: SeverityError, Acknowledgeable: true,
		Summary: "Blue-green only between patches of one series",
		Fix:     "Kong supports blue-green for patch upgrades only; use dual_cluster (or in_place) across series, or acknowledge UP007 after testing the hop's pending migrations."}
	ruleBlueGreenLTS = &Rule{ID: "UP008", Severity: SeverityError, Acknowledgeable: true,
		Summary: "Blue-green is not an LTS-to-LTS strategy",
		Fix:     "Kong's LTS upgrade guide lists only in_place, dual_cluster and rolling for LTS → LTS hops; use dual_cluster."}
	ruleStrategyMode = &Rule{ID: "UP009", Severity: SeverityError,
		Summary: "Strategy does not fit the mode",
		Fix:     "rolling is for dbless and hybrid_dp; dual_cluster, blue_green and in_place are for traditional and hybrid_cp."}
	ruleRequired = &Rule{ID: "UP010", Severity: SeverityError,
		Summary: "Required by the strategy",
		Fix:     "Add what the strategy needs (see the table in RULES.md): databases, Y's kong command, traffic and rollout, nodes, control_plane, backup."}
	ruleAbsent = &Rule{ID: "UP011", Severity: SeverityError,
		Summary: "Not used by the strategy",
		Fix:     "Remove it: the strategy never uses it, and keeping it suggests a different upgrade than the one that will run."}
	ruleSharedDB = &Rule{ID: "UP012", Severity: SeverityError,
		Summary: "Dual-cluster needs Y's own database",
		Fix:     "to.database must name a different database from from.database: Y's is restored from X's backup and migrated, X's stays untouched for rollback."}
	ruleDataPlane = &Rule{ID: "UP013", Severity: SeverityError,
		Summary: "Control plane refuses this data plane version",
		Fix:     "Upgrade the control plane first (a plan ordered before this one with depends_on): a data plane's major must equal the control plane's and its minor must not be newer."}
	ruleHybridMajor = &Rule{ID: "UP014", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "Hybrid hop crosses a major version",
		Fix:     "Y's control plane will refuse every data plane still on X's major; plan the data-plane upgrade right after, or acknowledge UP014."}
	ruleHybrid31 = &Rule{ID: "UP015", Severity: SeverityError,
		Summary: "Hybrid 3.1.0.x–3.1.1.2 must go to 3.1.1.3 first",
		Fix:     "3.1.0.0 and 3.1.1.1 lack the legacy CP/DP protocol and 3.2 dropped the new one: upgrade to 3.1.1.3 (or a later 3.1) first, in its own plan."}
	ruleCassandra = &Rule{ID: "UP016", Severity: SeverityError,
		Summary: "Cassandra is gone from Kong 3.4",
		Fix:     "Migrate the cluster to PostgreSQL before upgrading to 3.4 or later."}
	ruleWeights = &Rule{ID: "UP017", Severity: SeverityError,
		Summary: "Rollout weights",
		Fix:     "Weights are whole percentages 0–100, strictly increasing, and the last step is 100."}
	ruleDuration = &Rule{ID: "UP018", Severity: SeverityError,
		Summary: "Invalid duration",
		Fix:     `Write a Go duration string: "30s", "5m", "1h30m".`}
	ruleDowntime = &Rule{ID: "UP019", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "In-place upgrades mean downtime",
		Fix:     "Prefer dual_cluster; otherwise set max_downtime and acknowledge UP019."}
	ruleNoChecks = &Rule{ID: "UP020", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "No checks",
		Fix:     "Add at least one check block: a staging test against Y before any traffic moves (for example, that key-auth still rejects anonymous requests)."}
	ruleNoAnalysis = &Rule{ID: "UP021", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "No analysis",
		Fix:     `Add an analysis block so that every rollout pause is judged: a Prometheus query, or compare = "kong_metrics".`}
	ruleDupName = &Rule{ID: "UP022", Severity: SeverityError,
		Summary: "Duplicate plan name",
		Fix:     "A plan's name is its identity in the journal: rename one of the plans."}
	ruleUnordered = &Rule{ID: "UP023", Severity: SeverityError,
		Summary: "Plans on one cluster are not ordered",
		Fix:     "Two plans that change the same cluster must be ordered: add depends_on to the later one."}
	ruleUnknownDep = &Rule{ID: "UP024", Severity: SeverityError,
		Summary: "depends_on names no plan",
		Fix:     "Name an existing plan (plan names are unique across all plan files)."}
	ruleCycle = &Rule{ID: "UP025", Severity: SeverityError,
		Summary: "depends_on cycle",
		Fix:     "Break the cycle: depends_on must describe an order."}
	ruleEnvShape = &Rule{ID: "UP026", Severity: SeverityError,
		Summary: "Invalid env() call",
		Fix:     `Call env with one string literal naming a variable: env("KONG_ADMIN_TOKEN") ([A-Za-z_][A-Za-z0-9_]*).`}
	ruleEnvUnset = &Rule{ID: "UP027", Severity: SeverityError,
		Summary: "Environment variable not set",
		Fix:     "Set the variable in the environment that runs Upshift (checked only with --strict-env)."}
	ruleInlineSecret = &Rule{ID: "UP028", Severity: SeverityError,
		Summary: "Secret written in the plan",
		Fix:     `Plans live in Git: take tokens and DSN passwords from the environment, admin_token = env("KONG_ADMIN_TOKEN"), dsn = env("KONG_DSN"), or leave the password to PGPASSWORD / a pgpass file.`}
	rulePlaceholder = &Rule{ID: "UP029", Severity: SeverityError,
		Summary: "Invalid placeholder in a command",
		Fix:     "In to.kong only {pg_host} {pg_port} {pg_database} {pg_user} are substituted (the password travels only as KONG_PG_PASSWORD in the environment, never in argv); in a traffic \"command\" set, {from_weight} and {to_weight}."}
	ruleAck = &Rule{ID: "UP030", Severity: SeverityError,
		Summary: "Cannot acknowledge this rule",
		Fix:     "acknowledge lists only IDs of acknowledgeable rules (see RULES.md); safety rules can never be acknowledged."}
	ruleEnum = &Rule{ID: "UP031", Severity: SeverityError,
		Summary: "Unknown value",
		Fix:     "Use one of the values the attribute accepts (the diagnostic lists them)."}
	ruleEdition = &Rule{ID: "UP032", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "Edition changes",
		Fix:     "from and to are different editions (open source 3-part, Enterprise 4-part): moving between editions is a migration of its own. Check both versions, or acknowledge UP032."}
	ruleNoOSS = &Rule{ID: "UP033", Severity: SeverityError,
		Summary: "No open-source release of this series",
		Fix:     "Kong's open-source releases end with 3.9.x; 3.10 and later are Enterprise only, with 4-part versions (3.10.0.2)."}
	ruleAnalysis = &Rule{ID: "UP034", Severity: SeverityError,
		Summary: "Incomplete analysis",
		Fix:     `An analysis is either prometheus + query + max and/or min, prometheus + a query with {version} or {side} + margin (Y against X), or compare = "kong_metrics" with error_rate_margin and/or p99_latency_margin. The low-traffic policy: min_requests (compare only), max_window (how long a pause may extend while there is no data), on_no_data = "fail" (default) or "stall".`}
	ruleCheck = &Rule{ID: "UP035", Severity: SeverityError,
		Summary: "Incomplete check",
		Fix:     "A check has request + expect, or data_planes_synced = true (hybrid modes only)."}
	ruleApprove = &Rule{ID: "UP036", Severity: SeverityWarning, Acknowledgeable: true,
		Summary: "Consent item does not apply to this strategy",
		Fix:     "stop_current applies to in_place, finish to blue_green, decommission to all: remove the item."}
	ruleStaleAck = &Rule{ID: "UP037", Severity: SeverityWarning,
		Summary: "Acknowledgement matches nothing",
		Fix:     "Remove the rule from acknowledge: the plan does not trigger it, and a stale acknowledgement would silently accept a future finding."}
	rulePlanName = &Rule{ID: "UP038", Severity: SeverityError,
		Summary: "Invalid plan name",
		Fix:     "A plan's name is its identity in the journal, in file names and in URLs: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters; names starting with `upshift.` are the agent's own journals."}
	ruleInAdvance = &Rule{ID: "UP039", Severity: SeverityWarning,
		Summary: "Points of no return approved in advance",
		Fix:     "approve_in_advance crosses these gates without anyone looking: keep it for unattended environments (a test cluster), and elsewhere use approve = [...], which counts only when the item is added in a commit after the run stopped at the gate."}
	ruleInert = &Rule{ID: "UP040", Severity: SeverityWarning,
		Summary: "Accepted, not acted on yet",
		Fix:     "Upshift parses this and does nothing with it (rehearse on a rolling plan: no database to rehearse on). Remove it, or keep it knowing that nothing happens; this warning goes away when it works. upshift plan names it too."}
	ruleJournalRelative = &Rule{ID: "UP041", Severity: SeverityError,
		Summary: "Journal directory is not absolute",
		Fix:     `Write an absolute path, journal { dir = "/var/lib/upshift/journal" }, the same on every host that runs plans of this repository, or use a shared PostgreSQL journal: postgres = env("UPSHIFT_JOURNAL_DSN") (docs/runs.md).`}
	ruleJournalLiteral = &Rule{ID: "UP042", Severity: SeverityError,
		Summary: "Journal database not taken from the environment",
		Fix:     `Write journal { postgres = env("UPSHIFT_JOURNAL_DSN") }: the settings file lives in Git, and every entry point opens the journal through the variable it names.`}
	ruleUnevaluable = &Rule{ID: "UP043", Severity: SeverityError,
		Summary: "Analysis cannot be evaluated at some rollout step",
		Fix:     `A comparison (compare = "kong_metrics", or a query with {version} or {side}) needs X's figures: in the same window while X serves traffic, else X's baseline from an earlier pause of the run. Start the rollout below 100 (step { weight = 10 } before 100), and do not pause at weight 0, where Y serves nothing.`}
	ruleLTSHop = &Rule{ID: "UP044", Severity: SeverityInfo,
		Summary: "LTS → LTS hop skips releases",
		Fix:     "Kong supports this hop directly, but the releases in between are not run one by one: read the breaking changes of every skipped release and of the target (the diagnostic links Kong's page and its LTS upgrade guide), and check kong.conf, custom plugins and decK files against them before the upgrade."}
	ruleNotifyURL = &Rule{ID: "UP046", Severity: SeverityError,
		Summary: "Notification URL is not an http(s) URL",
		Fix:     `Write the receiver's full URL, https://host/path (a Slack incoming webhook's URL is its credential: webhook_url = env("SLACK_WEBHOOK_URL")); a webhook's secret comes from the environment too, secret = env("UPSHIFT_WEBHOOK_SECRET") (docs/notifications.md).`}
	ruleRehearseVerify = &Rule{ID: "UP048", Severity: SeverityError,
		Summary: "Rehearsal needs a verify server",
		Fix:     `rehearse = true runs Y's migrations on a test restore of the backup, on the server of backup.verify_dsn (a role that may CREATE and DROP DATABASE): add verify_dsn = env("UPSHIFT_VERIFY_DSN") to the backup block, or remove rehearse.`}
	ruleTLS = &Rule{ID: "UP045", Severity: SeverityError,
		Summary: "TLS settings that cannot work",
		Fix:     `Give cert_file and key_file together (key_file = env("KONG_CLIENT_KEY") keeps the key out of Git: a path, or the PEM itself), and PEM files upshift can read where it runs (a relative path is read from its working directory); lint --strict-env, run there, reads them.`}
)

var allRules = []*Rule{
	ruleVersionInvalid, ruleDowngrade, ruleSameVersion, rulePath, rule1x,
	ruleBlueGreenMin, ruleBlueGreenPatch, ruleBlueGreenLTS, ruleStrategyMode,
	ruleRequired, ruleAbsent, ruleSharedDB, ruleDataPlane, ruleHybridMajor,
	ruleHybrid31, ruleCassandra, ruleWeights, ruleDuration, ruleDowntime,
	ruleNoChecks, ruleNoAnalysis, ruleDupName, ruleUnordered, ruleUnknownDep,
	ruleCycle, ruleEnvShape, ruleEnvUnset, ruleInlineSecret, rulePlaceholder,
	ruleAck, ruleEnum, ruleEdition, ruleNoOSS, ruleAnalysis, ruleCheck, ruleApprove,
	ruleStaleAck, rulePlanName, ruleInAdvance, ruleInert, ruleJournalRelative, ruleJournalLiteral,
	ruleUnevaluable,
	ruleLTSHop,
	ruleTLS,
	ruleNotifyURL,
	ruleRehearseVerify,
}

// Rules returns every rule, sorted by ID. The slice is a copy; the rules
// are shared and must not be modified.
func Rules() []*Rule {
	out := append([]*Rule(nil), allRules...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RuleByID returns the rule with the given ID, or nil.
func RuleByID(id string) *Rule {
	for _, r := range allRules {
		if r.ID == id {
			return r
		}
	}
	return nil
}
