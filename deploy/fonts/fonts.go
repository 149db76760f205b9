// Package fonts ships the fonts that netpulse embeds in the documents it
// prints. PDF readers on the leaders' machines may lack any Chinese font, so
// the report PDF carries its own glyphs.
package fonts

import _ "embed"

// The file is WenQuanYi Micro Hei (Apache-2.0, Debian package
// fonts-wqy-microhei), taken out of its TrueType collection and subset to
// ASCII, GB 2312 and CJK punctuation with fonttools, see README.md. It is
// TrueType (glyf outlines), which go-pdf/fpdf can embed; fpdf reads neither
// collections (TTC) nor CFF-flavoured OpenType such as Noto CJK. Micro Hei
// rather than Droid Sans Fallback, which it derives from, because the
// fallback font has no Latin letters or digits.
//
//go:embed WenQuanYiMicroHei-GB2312.ttf
var reportTTF string

// ReportTTF returns a fresh copy of the CJK TrueType font used by report PDFs.
func ReportTTF() []byte { return []byte(reportTTF) }
