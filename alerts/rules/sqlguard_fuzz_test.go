package rules

import (
	"strings"
	"testing"
)

// FuzzCheckAST: whatever EXPLAIN AST prints, the tree reader and the
// checker neither panic nor accept a tree that names a table outside the
// allow list.
func FuzzCheckAST(f *testing.F) {
	f.Add("SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n  SelectQuery (children 2)\n   ExpressionList (children 1)\n    Function count (alias value) (children 1)\n     ExpressionList\n   TablesInSelectQuery (children 1)\n    TablesInSelectQueryElement (children 1)\n     TableExpression (children 1)\n      TableIdentifier netpulse.posts")
	f.Add("SelectWithUnionQuery (children 1)\n ExpressionList\n   Set")
	f.Fuzz(func(t *testing.T, tree string) {
		root, err := parseAST(strings.Split(tree, "\n"))
		if err != nil || root == nil {
			return
		}
		if checkAST(root) == nil && strings.Contains(tree, "TableIdentifier netpulse.access_records") {
			t.Fatalf("accepted a tree reading access_records:\n%s", tree)
		}
	})
}
