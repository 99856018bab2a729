package spanmetricses

import "github.com/otelcol-es/otelcol-es/internal/spanattr"

// The names the behaviour tests were written against; the rule now lives
// in internal/spanattr.
const maxValueLen = spanattr.MaxValueLen

func clip(v string) string { return spanattr.Bound(v, spanattr.Stated) }
