package render

import (
	"strings"
	"testing"
)

// display.theme reaches GTK everywhere, and each desktop's own settings
// where it has some.
func TestThemeIsApplied(t *testing.T) {
	r := newRenderer(t)
	const gtk3, gtk4, gtk2 = root + "etc/skel/.config/gtk-3.0/settings.ini", root + "etc/skel/.config/gtk-4.0/settings.ini", root + "etc/skel/.gtkrc-2.0"
	const override = root + "usr/share/glib-2.0/schemas/90_linux-builder-theme.gschema.override"
	const xsettings = root + "etc/skel/.config/xfce4/xfconf/xfce-perchannel-xml/xsettings.xml"
	for _, tc := range []struct {
		name, display string
		want          map[string][]string // file → lines it must hold
		absent        []string
	}{
		{"sway dark", "{server: wayland, compositor: sway, theme: Adwaita-dark}", map[string][]string{
			gtk3:     {"gtk-theme-name=Adwaita-dark", "gtk-application-prefer-dark-theme=1"},
			gtk4:     {"gtk-theme-name=Adwaita-dark"},
			gtk2:     {`gtk-theme-name="Adwaita-dark"`},
			override: {"[org.gnome.desktop.interface]", "gtk-theme='Adwaita-dark'", "color-scheme='prefer-dark'"},
		}, []string{xsettings}},
		{"mate light", "{server: xorg, compositor: mate, theme: Adwaita}", map[string][]string{
			gtk3:     {"gtk-theme-name=Adwaita"},
			override: {"[org.mate.interface]", "gtk-theme='Adwaita'"},
		}, []string{xsettings}},
		{"cinnamon", "{server: xorg, compositor: cinnamon, theme: HighContrast}", map[string][]string{
			override: {"[org.cinnamon.desktop.interface]", "gtk-theme='HighContrast'"},
		}, nil},
		{"xfce", "{server: xorg, compositor: xfce, theme: Adwaita}", map[string][]string{
			xsettings: {`<property name="ThemeName" type="string" value="Adwaita"/>`},
		}, nil},
		{"no theme", "{server: xorg, compositor: xfce}", nil, []string{gtk3, gtk4, gtk2, override, xsettings}},
		{"no display server", "{theme: Adwaita}", nil, []string{gtk3, override}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := renderSource(t, r, "base: debian\ndisplay: "+tc.display+"\n")
			for path, lines := range tc.want {
				f := c.File(path)
				if f == nil {
					t.Fatalf("no %s", path)
				}
				for _, l := range lines {
					if !strings.Contains(string(f.Data), l) {
						t.Errorf("%s lacks %q:\n%s", path, l, f.Data)
					}
				}
			}
			for _, path := range tc.absent {
				if c.File(path) != nil {
					t.Errorf("%s written", path)
				}
			}
			setup := string(c.File(root + libDir + "/setup.sh").Data)
			if compiles := strings.Contains(setup, "glib-compile-schemas /usr/share/glib-2.0/schemas"); compiles != (c.File(override) != nil) {
				t.Errorf("setup.sh compiles the schemas: %v, override written: %v", compiles, c.File(override) != nil)
			}
			if strings.Contains(tc.name, "light") && strings.Contains(string(c.File(override).Data), "prefer-dark") {
				t.Error("a light theme asks for dark")
			}
		})
	}
}
