package schema

// checkRehearse applies UP048: the engine rehearses Y's migrations on a
// test restore on backup.verify_dsn's server, so a database strategy with
// rehearse = true needs it (rolling: UP040 says rehearse does nothing).
func (l *linter) checkRehearse() {
	p := l.plan
	if !p.Rehearse.Value || p.Strategy.Value == "rolling" {
		return
	}
	if p.Backup == nil || !p.Backup.VerifyDSN.Given() {
		l.reportf(ruleRehearseVerify, p.Rehearse.Range, "rehearse = true and the plan has no backup.verify_dsn: the rehearsal has no server to restore the backup on, and the engine would stop at it.")
	}
}
