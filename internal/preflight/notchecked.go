package preflight

// NotChecked lists the rows of kong-breaking-changes.md that no rule
// checks, because a decK dump and GET /'s configuration cannot show them
// (runtime-only, Enterprise-only, Y's own files or license) or because no
// rule is written yet; every report carries the list, so that a clean
// report is not read as "nothing will change".
var NotChecked = []string{
	"30-17, 30-18, 30-19, 32-2, 32-6, 34-3, 34-4, 35-5, 35-6, 36-10, 36-11, 36-12, 37-2, 37-3, 38-2, 38-6, 39-2, 310-4, 310-5, 310-7: Enterprise-only (plugins, settings, licensing); not checked",
	"310-8 (duplicate Content-Length/Transfer-Encoding from upstreams → 502) and 36-13 (chunked HTTP/2 bodies): runtime-only, seen only in traffic: run the plan's checks against Y",
	"31-2, 32-5, 32-7, 33-4, 33-7, 34-5, 35-3, 35-4, 35-7, 36-5, 36-6, 36-7, 36-8: kong.conf defaults and renames; Y's kong.conf is not read (its GET / configuration is, once Y answers, only for router_flavor)",
	"30-13, 30-15 (omitted defaults): a dump holds every default; only lint --deck on the source file sees them",
	"30-6 (acl whitelist): Kong 2.x stores it as allow; only lint --deck on the source file sees it",
	"the plan's checks on Y: matched only for a whole {\"message\":...} body (PF35-20), \"Invalid authentication credentials\" (PF36-20) and a Via header (PF38-20); json_path and other headers are not",
	"33-1, 33-3, 33-6, 34-2, 34-6, 36-2, 37-4, 37-6, 38-3, 310-1, 310-2, 310-3: no rule yet",
}
