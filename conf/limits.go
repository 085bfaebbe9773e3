package conf

import "github.com/drover/drover/master"

var limitKeys = []string{"concurrency", "rate"}

// limits decodes a table of limits by name: [limits] "example.com" = 2,
// or "api.example.com" = { concurrency = 4, rate = "10/s" }.
func (d *decoder) limits(p path, v any) map[string]master.Limit {
	return named(d, p, v, func(lp path, _ string, lv any) (master.Limit, bool) { return d.limit(lp, lv), true })
}

// limit decodes one limit: an integer (the concurrency) or a table with
// concurrency and rate ("10/s", "100/m").
func (d *decoder) limit(p path, v any) master.Limit {
	if _, ok := v.(int64); ok {
		return master.Limit{Concurrency: d.integer(p, v, 0, 1<<30)}
	}
	t, ok := v.(map[string]any)
	if !ok {
		d.errorf(p, `want a number (concurrency) or a table { concurrency = N, rate = "10/s" }, got %s`, typeName(v))
		return master.Limit{}
	}
	var l master.Limit
	d.keys(p, t, nil, limitKeys, func(kp path, k string, kv any) bool {
		switch k {
		case "concurrency":
			l.Concurrency = d.integer(kp, kv, 0, 1<<30)
		case "rate":
			r, err := master.ParseRate(d.str(kp, kv))
			if err != nil {
				d.errorf(kp, "%v", err)
			}
			l.Rate = r
		default:
			return false
		}
		return true
	})
	return l
}
