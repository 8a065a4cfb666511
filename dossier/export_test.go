package dossier

// Exported for the tests of package dossier_test.
var (
	ParseYYMMDD = parseYYMMDD
	TextOK      = textOK
)
