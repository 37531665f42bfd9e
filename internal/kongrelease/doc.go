// Package kongrelease holds what is known about Kong Gateway releases, as data
// with the source of each fact: version parsing and editions, the LTS list,
// Kong's guaranteed upgrade paths, the hybrid-mode acceptance rule for data
// planes, and the catalogue of database migrations per version and subsystem.
//
// It does no I/O and imports nothing from this module, so the linter
// (schema), the engine, the Kong driver (kong) and the emulator (kongsim) all
// decide from the same facts. Start with Parse in version.go; then paths.go
// (guaranteed upgrade paths and the intermediate versions to go through),
// lts.go (LTS series and their end of life), hybrid.go (DataPlaneAccepted,
// the control plane's rule for data-plane versions, and the 3.1 hybrid
// stop) and migrations.go (Migrations per version and Classify, which reads
// schema_meta as Kong's state.lua does).
//
// Facts come from ../shared/design/kong-facts.md, which cites Kong's source
// (K: Kong/kong), the old docs (D: Kong/docs.konghq.com) and the new docs
// (N: Kong/developer.konghq.com). Each table here names its source.
package kongrelease
