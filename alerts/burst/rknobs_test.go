package burst

import "fmt"

func rknobs() []knob {
	var ks []knob
	add := func(name string, f func(*config)) { ks = append(ks, knob{name, f}) }
	for _, q := range []float64{1, 1.5, 2, 3} {
		for _, e := range []float64{2, 2.5, 3} {
			add(fmt.Sprint("quiet ", q, "h endZ ", e), func(c *config) { c.quiet = q * 3600; c.endZ = e })
		}
	}
	return ks
}
