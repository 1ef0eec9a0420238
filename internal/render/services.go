package render

import "github.com/linux-builder/linux-builder/internal/spec"

// serviceNames maps a service from the spec's services section to the
// service (unit) name it has on each distribution; the default is the
// common name.
var serviceNames = map[string]map[spec.Base]string{
	"redis":         {spec.BaseDebian: "redis-server", spec.BaseUbuntu: "redis-server"},
	"mysql":         {spec.BaseDebian: "mariadb", spec.BaseArch: "mariadb", spec.BaseAlpine: "mariadb", spec.BaseOpenSUSE: "mariadb", spec.BaseVoid: "mysqld", spec.BaseFedora: "mysqld", spec.BaseGentoo: "mysql"},
	"mariadb":       {spec.BaseVoid: "mysqld", spec.BaseGentoo: "mysql"},
	"node-exporter": {spec.BaseDebian: "prometheus-node-exporter", spec.BaseUbuntu: "prometheus-node-exporter", spec.BaseArch: "prometheus-node-exporter", spec.BaseAlpine: "node-exporter", spec.BaseFedora: "node_exporter", spec.BaseOpenSUSE: "prometheus-node_exporter", spec.BaseVoid: "node_exporter", spec.BaseGentoo: "node_exporter"},
	"grafana":       {spec.BaseDebian: "grafana-server", spec.BaseUbuntu: "grafana-server", spec.BaseFedora: "grafana-server"},
	"zabbix-agent":  {spec.BaseAlpine: "zabbix-agentd", spec.BaseVoid: "zabbix-agentd"},
	"cockpit":       {spec.BaseDebian: "cockpit.socket", spec.BaseUbuntu: "cockpit.socket", spec.BaseFedora: "cockpit.socket", spec.BaseOpenSUSE: "cockpit.socket", spec.BaseArch: "cockpit.socket"},
	"jupyterlab":    {},
	"sqlite":        {},
	"llama-cpp":     {},
}

// noDaemon are services entries that are libraries or tools, not daemons.
var noDaemon = map[string]bool{"sqlite": true, "llama-cpp": true, "jupyterlab": true}

func serviceName(name string, b spec.Base) string {
	if n, ok := serviceNames[name][b]; ok {
		return n
	}
	return name
}

// dataInit are commands that create a database's data directory where the
// package does not do it itself. They run at build time, as root.
var dataInit = map[string]map[spec.Base]string{
	"postgresql": {
		spec.BaseArch:   "su postgres -s /bin/sh -c 'initdb --locale=C.UTF-8 -D /var/lib/postgres/data'",
		spec.BaseFedora: "postgresql-setup --initdb",
		spec.BaseGentoo: "emerge --config dev-db/postgresql",
	},
	"mariadb": {
		spec.BaseArch:   "mariadb-install-db --user=mysql --basedir=/usr --datadir=/var/lib/mysql",
		spec.BaseAlpine: "mariadb-install-db --user=mysql --datadir=/var/lib/mysql",
		spec.BaseGentoo: "emerge --config dev-db/mariadb",
	},
}

// foreground are commands that run known daemons in the foreground, for
// init systems whose service definitions the distributions do not ship
// (s6 everywhere, runit on Alpine and Debian for some daemons). ssh is
// Debian's and Ubuntu's name, whose sshd refuses to start without its
// privilege separation directory, /run/sshd: their own service definitions
// make it, and /run is empty at boot.
var foreground = map[string]string{
	"sshd":           "/usr/sbin/sshd -D -e",
	"ssh":            "/bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e'",
	"fail2ban":       "fail2ban-server -xf start",
	"crond":          "crond -f",
	"cronie":         "crond -n",
	"cron":           "cron -f",
	"NetworkManager": "NetworkManager --no-daemon",
	"dnscrypt-proxy": "dnscrypt-proxy -config /etc/dnscrypt-proxy/dnscrypt-proxy.toml",
	"nginx":          "nginx -g 'daemon off;'",
	"redis":          "redis-server --daemonize no",
	"postgresql":     "su postgres -s /bin/sh -c 'postgres -D /var/lib/postgresql/data'",
	"node-exporter":  "node_exporter",
	"prometheus":     "prometheus --config.file=/etc/prometheus/prometheus.yml",
	"ollama":         "ollama serve",
}
