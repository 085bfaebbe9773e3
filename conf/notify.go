package conf

import "github.com/drover/drover/master"

// notify decodes the [notify] table. Not built yet.
func (d *decoder) notify(p path, v any) master.Notify {
	d.errorf(p, "notifiers are not supported by this version yet")
	return master.Notify{}
}
