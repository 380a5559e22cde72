// Package migrations embeds the schema's SQL migrations, applied in order by
// golang-migrate. A migration is never edited once it has landed.
package migrations

import "embed"

// FS holds the NNNNNN_name.up.sql and .down.sql files.
//
//go:embed *.sql
var FS embed.FS
