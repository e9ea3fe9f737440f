#!/usr/bin/env python3
"""Static checks of deploy/: every YAML and JSON file parses, and the files agree with each
other and with the systemd unit (capabilities, job name, ports, labels, recorded series).

The queries of the dashboard are run against a real Prometheus scraping gilstatd by the e2e
test (tests/e2e/e2e_test.py); the rules by `promtool test rules` (check_rules.sh).

usage: check_deploy.py REPOSITORY_ROOT
"""
import glob
import json
import os
import re
import sys
import unittest

import yaml

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")


def load_yaml_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def dashboard_panels(dash):
    """Every panel, those inside rows included."""
    return [p for top in dash["panels"] for p in [top, *top.get("panels", [])]]


class Files(unittest.TestCase):
    def test_every_yaml_and_json_file_parses(self):
        files = glob.glob(os.path.join(DEPLOY, "**", "*"), recursive=True)
        checked = 0
        for path in files:
            if path.endswith((".yml", ".yaml")):
                self.assertTrue(load_yaml_all(path), path)
                checked += 1
            elif path.endswith(".json"):
                with open(path) as f:
                    json.load(f)
                checked += 1
        self.assertGreaterEqual(checked, 6, files)


class Dashboard(unittest.TestCase):
    VARIABLES = {"job", "instance", "process", "lock", "source"}
    BUILTINS = {"__rate_interval", "__range", "__interval"}

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "grafana", "gilstat.json")) as f:
            cls.dash = json.load(f)
        cls.panels = dashboard_panels(cls.dash)
        cls.targets = [(p, t) for p in cls.panels for t in p.get("targets", [])]
        rules = load_yaml_all(os.path.join(DEPLOY, "prometheus", "gilstat.rules.yml"))[0]
        cls.recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}

    def test_current_schema_with_a_datasource_variable(self):
        self.assertGreaterEqual(self.dash["schemaVersion"], 39)
        self.assertTrue(self.dash["uid"] and self.dash["title"])
        variables = {v["name"]: v for v in self.dash["templating"]["list"]}
        ds = variables["datasource"]
        self.assertEqual((ds["type"], ds["query"]), ("datasource", "prometheus"))
        self.assertEqual(set(variables) - {"datasource"}, self.VARIABLES)
        for name in self.VARIABLES:
            v = variables[name]
            self.assertEqual(v["type"], "query", name)
            self.assertEqual(v["datasource"], {"type": "prometheus", "uid": "${datasource}"}, name)
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            self.assertRegex(q, r"^label_values\(gilstat_\w+(\{.*\})?, *" + name + r"\)$", name)
            self.assertTrue(v["includeAll"] and v["multi"], name)
            self.assertEqual(v["allValue"], ".*", name)

    def test_panels_use_the_datasource_variable(self):
        ids = [p["id"] for p in self.panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are not unique")
        titles = [p["title"] for p in self.panels]
        self.assertEqual(len(titles), len(set(titles)), "panel titles are not unique")
        for p in self.panels:
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p.get("targets"), p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])

    def test_panels_do_not_overlap(self):
        cells = {}
        for p in self.panels:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, f"{p['title']} overlaps {cells.get((x, y))}")
                    cells[(x, y)] = p["title"]

    def test_queries(self):
        self.assertGreaterEqual(len(self.targets), 20)
        for p, t in self.targets:
            where = f"{p['title']} {t['refId']}: {t['expr']}"
            expr = t["expr"]
            used = set(re.findall(r"\$\{?(\w+)\}?", expr))
            self.assertLessEqual(used, self.VARIABLES | self.BUILTINS, where)
            # Windows follow the dashboard: no fixed [5m].
            for window in re.findall(r"\[([^\]]*)\]", expr):
                self.assertIn(window, ("$__rate_interval", "$__range"), where)
            # Time series panels rate over $__rate_interval, instant tables over $__range.
            if p["type"] == "timeseries":
                self.assertNotIn("$__range", expr, where)
            else:
                self.assertTrue(t.get("instant"), where)
            # Histograms: quantiles over rates of buckets summed by le.
            if "_bucket" in expr:
                self.assertRegex(expr, r"^histogram_quantile\(0?\.\d+, sum by \(le(, \w+)*\) "
                                       r"\(rate\(gilstat_\w+_bucket\{[^}]*\}\[[^\]]+\]\)\)\)$", where)
            # Recorded series exist in the rules.
            for name in re.findall(r"\b(\w+:\w+:\w+)\b", expr):
                self.assertIn(name, self.recorded, where)
            # Every gilstat metric is filtered by the instance variable.
            for sel in re.findall(r"gilstat_\w+\{([^}]*)\}", expr):
                self.assertIn('instance=~"$instance"', sel, where)

    def test_the_wanted_panels_are_there(self):
        exprs = " ".join(t["expr"] for _, t in self.targets)
        for needle in ("gilstat_lock_wait_seconds:rate1m",   # GIL wait ratio
                       "histogram_quantile(0.5, sum by (le, instance, process, source) "
                       "(rate(gilstat_lock_wait_seconds_bucket",
                       "histogram_quantile(0.99, sum by (le, instance, process, source) "
                       "(rate(gilstat_lock_wait_seconds_bucket",
                       "gilstat_lock_handoffs_total", "gilstat_lock_contended:ratio_rate1m",
                       "gilstat_gil_hold_seconds_bucket", "gilstat_gil_switches_total",
                       "gilstat_python_info", "gilstat_python_gil_enabled",
                       "gilstat_python_gil_switches_total", "gilstat_targets",
                       "gilstat_attach_errors_total", "gilstat_probe_map_full_total"):
            self.assertIn(needle, exprs)
        self.assertTrue(any(p["type"] == "table" and "lock" in p["title"].lower()
                            for p in self.panels), "no top-locks table")


class Prometheus(unittest.TestCase):
    def test_job_name_matches_the_rules(self):
        rules = load_yaml_all(os.path.join(DEPLOY, "prometheus", "gilstat.rules.yml"))[0]
        jobs = set()
        for g in rules["groups"]:
            for r in g["rules"]:
                jobs |= set(re.findall(r'job="(\w+)"', r["expr"]))
        self.assertEqual(jobs, {"gilstat"})
        for name in ("prometheus.yml", "prometheus-kubernetes.yml"):
            cfg = load_yaml_all(os.path.join(DEPLOY, "prometheus", name))[0]
            self.assertEqual([s["job_name"] for s in cfg["scrape_configs"]], ["gilstat"], name)
            self.assertEqual(cfg["rule_files"], ["gilstat.rules.yml"], name)


class Alloy(unittest.TestCase):
    """deploy/alloy/gilstat.alloy: the profile endpoints gilstatd serves, on its default port,
    and the same scrape block as docs/OPERATIONS.md shows."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "alloy", "gilstat.alloy")) as f:
            cls.text = f.read()
        with open(os.path.join(ROOT, "daemon", "app", "daemon.cpp")) as f:
            cls.served = set(re.findall(r'"(/debug/pprof/\w+)"', f.read()))

    def test_braces_and_quotes_balance(self):
        code = re.sub(r"^\s*//.*$", "", self.text, flags=re.M)
        self.assertEqual(code.count("{"), code.count("}"))
        self.assertEqual(code.count('"') % 2, 0)

    def test_every_profile_gilstatd_serves_is_scraped(self):
        paths = set(re.findall(r'path\s*=\s*"([^"]+)"', self.text))
        self.assertTrue(self.served, "no /debug/pprof path found in daemon/app/daemon.cpp")
        self.assertEqual(paths, self.served)
        with open(os.path.join(ROOT, "daemon", "app", "flags.h")) as f:
            port = re.search(r'listen_address = "[\d.]+:(\d+)"', f.read()).group(1)
        self.assertIn('"__address__" = "127.0.0.1:%s"' % port, self.text)

    def test_the_operations_guide_shows_the_same_scrape_block(self):
        with open(os.path.join(ROOT, "docs", "OPERATIONS.md")) as f:
            doc = f.read()
        block = re.search(r'pyroscope\.scrape "gilstat" \{.*?\n\}', self.text, re.S).group(0)
        lines = [l.strip() for l in block.splitlines() if l.strip()]
        shown = re.search(r'pyroscope\.scrape "gilstat" \{.*?\n  \}', doc, re.S)
        self.assertIsNotNone(shown, "docs/OPERATIONS.md shows no pyroscope.scrape block")
        self.assertEqual([l.strip() for l in shown.group(0).splitlines() if l.strip()], lines)


class Kubernetes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        docs = load_yaml_all(os.path.join(DEPLOY, "kubernetes", "gilstatd-daemonset.yaml"))
        cls.by_kind = {d["kind"]: d for d in docs}
        cls.ds = cls.by_kind["DaemonSet"]
        cls.pod = cls.ds["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]

    def unit_capabilities(self):
        with open(os.path.join(ROOT, "systemd", "gilstatd.service")) as f:
            for line in f:
                if line.startswith("AmbientCapabilities="):
                    return {c.removeprefix("CAP_") for c in line.split("=", 1)[1].split()}
        self.fail("the unit has no AmbientCapabilities=")

    def test_capabilities_are_the_units(self):
        sc = self.container["securityContext"]
        self.assertEqual(set(sc["capabilities"]["add"]), self.unit_capabilities())
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertFalse(sc.get("privileged", False))
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertTrue(self.pod["hostPID"])
        self.assertFalse(self.pod.get("hostNetwork", False))

    def test_config_map_is_mounted_where_the_daemon_reads_it(self):
        args = self.container["args"]
        cfg = next(a.split("=", 1)[1] for a in args if a.startswith("--config.file="))
        mount = next(m for m in self.container["volumeMounts"]
                     if cfg.startswith(m["mountPath"] + "/"))
        volume = next(v for v in self.pod["volumes"] if v["name"] == mount["name"])
        cm = self.by_kind["ConfigMap"]
        self.assertEqual(volume["configMap"]["name"], cm["metadata"]["name"])
        key = os.path.basename(cfg)
        self.assertIn("targets", yaml.safe_load(cm["data"][key]))
        # The daemon listens on the port Prometheus is told to scrape.
        listen = next(a for a in args if a.startswith("--web.listen-address="))
        port = self.container["ports"][0]
        self.assertTrue(listen.endswith(f":{port['containerPort']}"), listen)

    def test_prometheus_finds_the_pods(self):
        cfg = load_yaml_all(os.path.join(DEPLOY, "prometheus", "prometheus-kubernetes.yml"))[0]
        sd = cfg["scrape_configs"][0]["kubernetes_sd_configs"][0]
        self.assertEqual(sd["namespaces"]["names"], [self.ds["metadata"]["namespace"]])
        label = sd["selectors"][0]["label"]
        k, v = label.split("=")
        self.assertEqual(self.ds["spec"]["template"]["metadata"]["labels"][k], v)
        keep = next(r for r in cfg["scrape_configs"][0]["relabel_configs"]
                    if r["source_labels"] == ["__meta_kubernetes_pod_container_port_name"])
        self.assertEqual(keep["regex"], self.container["ports"][0]["name"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
