package main

func (g *chaosRig) enospc(row *chaosRow)          { g.t.Fatalf("%s: not written yet", row.fault) }
func (g *chaosRig) postgresRestart(row *chaosRow) { g.t.Fatalf("%s: not written yet", row.fault) }
func (g *chaosRig) dockerdRestart(row *chaosRow)  { g.t.Fatalf("%s: not written yet", row.fault) }
