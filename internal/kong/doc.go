// Package kong is Upshift's driver for Kong Gateway: it reads what a Kong
// node and its database say about themselves, and runs the plan's `kong`
// command.
//
//   - client.go: the Admin API through go-kong ([New], [Client.Info] for
//     GET /, [Client.DataPlanes] for /clustering/data-planes, DB-less
//     [Client.Config]/[Client.PostConfig]) and readiness ([Client.Ready]:
//     the Status API's /status/ready from Kong 3.3 when a status URL is
//     given, else the Admin API's /status).
//   - schema.go: Kong's schema_meta and locks tables read with pgx
//     ([ReadSchema]) and classified with kongrelease's migration catalogue
//     for a given version ([SchemaState.Classify]), never from the exit
//     code of `kong migrations list` alone.
//   - command.go: running the plan's `kong` argv ([Command.Run]) with the
//     database in KONG_PG_* variables, output captured and parsed
//     ([ParseOutput]), the process group killed on cancellation.
//
// Every call is made once: the package does not retry (the engine decides
// whether and when to try again). Errors are *[Error] values naming the
// operation and the target (never a password or a token).
//
// What it does not do: it writes no Kong entities (backups and restores of
// configuration live in package backup), it does not manage Kong processes
// (the plan's start/stop commands do), and it knows nothing of plans.
//
// Start reading at client.go.
package kong
