// Package fonts ships the fonts that netpulse embeds in the documents it
// prints. PDF readers on the leaders' machines may lack any Chinese font, so
// the report PDF carries its own glyphs.
package fonts

import _ "embed"

// The file is Droid Sans Fallback (Apache-2.0, Debian package
// fonts-droid-fallback) subset to ASCII, GB 2312 and CJK punctuation with
// fonttools, see README.md. It is TrueType (glyf outlines), which is what
// go-pdf/fpdf can embed; the OTF/CFF and TTC fonts Debian ships for CJK
// cannot be read by fpdf.
//
//go:embed DroidSansFallback-GB2312.ttf
var reportTTF string

// ReportTTF returns a fresh copy of the CJK TrueType font used by report PDFs.
func ReportTTF() []byte { return []byte(reportTTF) }
