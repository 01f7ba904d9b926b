// Refuses to build the dashboard as a role that could change anything: the dashboard reads,
// so its role gets the read-only grants of the README's recipe (stockelt_dashboard). Connects
// with the settings build.sh passes to Evidence's PostgreSQL source.
const { Client } = require('pg');

const settings = (name) => process.env[`EVIDENCE_SOURCE__stockelt__${name}`];

const check = `
WITH schemas AS (SELECT unnest(ARRAY['stockelt', 'silver', 'gold']) AS nspname),
tables AS (
	SELECT c.oid, n.nspname || '.' || c.relname AS name
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN schemas USING (nspname)
	 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
),
definers AS (	-- stockelt's own-rights functions: fetch, ingest, refresh, queue…
	SELECT p.oid, p.oid::regprocedure::text AS name
	  FROM pg_proc p
	  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stockelt'
	 WHERE p.prosecdef AND p.proname <> 'stockelt_check'
)
SELECT 'is a superuser' FROM pg_roles WHERE rolname = current_user AND rolsuper
UNION ALL
SELECT 'may create objects in schema ' || nspname FROM schemas
 WHERE has_schema_privilege(nspname, 'CREATE')
UNION ALL
SELECT 'may ' || lower(w) || ' ' || name FROM tables, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) w
 WHERE has_table_privilege(oid, w)
UNION ALL
SELECT 'may execute ' || name FROM definers WHERE has_function_privilege(oid, 'EXECUTE')
`;

(async () => {
	const client = new Client({
		host: settings('host'),
		port: Number(settings('port')),
		database: settings('database'),
		user: settings('user'),
		password: settings('password') || undefined
	});
	try {
		await client.connect();
		const { rows } = await client.query(check);
		if (rows.length > 0) {
			const what = rows.map((r) => Object.values(r)[0]);
			console.error(`dashboard: role "${settings('user')}" can write, not only read: ${what.slice(0, 5).join('; ')}` +
				(what.length > 5 ? `; and ${what.length - 5} more` : ''));
			console.error('dashboard: connect as the read-only role of the README\'s "Granting access" recipe (stockelt_dashboard)');
			process.exit(1);
		}
	} catch (e) {
		// node-postgres words a password the server asks for and nobody gave as a SASL fault
		if (!settings('password') && /password must be a string/.test(e.message)) {
			console.error(`dashboard: the server asks for a password for role "${settings('user')}", and none was given`);
			console.error('dashboard: set PGPASSWORD (or put the password in ~/.pgpass) and run build.sh again');
		} else {
			console.error(`dashboard: cannot check the role "${settings('user')}": ${e.message}`);
		}
		process.exit(1);
	} finally {
		await client.end().catch(() => {});
	}
})();
