package rules

// VetSQL exposes the SQL check to the external tests.
var VetSQL = vetSQL

// RuleLimits exposes the evaluation limits.
var RuleLimits = ruleLimits
