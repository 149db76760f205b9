package web

import (
	"embed"

	"github.com/netpulse/netpulse/dashboards/i18n"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

func loadCatalogues() (map[string]i18n.Catalogue, error) {
	return i18n.Load(catalogueFS, "i18n")
}
