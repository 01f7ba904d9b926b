// Drives Debian's chromium headless (playwright-core, from the dashboard's locked packages)
// over every page of the built dashboard: each chart must render with the series and the
// number of points gold has (EXPECTED, from test/dashboard.sh), a few numbers shown must be
// gold's, the stock page must follow its symbol picker, and no page may request anything
// outside 127.0.0.1 or log a console error. Prints "ok   - …" or "FAIL - …" per check and
// saves a screenshot of every page in SCREENSHOTS.
// Usage: node dashboard_browser.cjs BASE_URL EXPECTED.json SCREENSHOTS
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, expectedFile, shots] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8'));
const symbols = Object.keys(expected.symbols).sort();
const chromiumPath = process.env.STOCKELT_CHROMIUM || '/usr/bin/chromium';
let failures = 0;

function report(passed, name, detail) {
	if (passed) {
		console.log(`ok   - ${name}`);
	} else {
		failures++;
		console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`);
	}
}

// The points of a series that have a value (Evidence fills the x values a series lacks with
// nulls, so that every series of a chart has the same x values).
function valuedPoints(series) {
	return (series.data || []).filter((d) => {
		const v = Array.isArray(d) ? d[1] : d && typeof d === 'object' ? d.value : d;
		return Array.isArray(v) ? v[1] !== null && v[1] !== undefined : v !== null && v !== undefined;
	}).length;
}

// The charts on the page: title, subtitle, and per series its name and valued points.
async function charts(page) {
	return page.evaluate(() => {
		const registry = window[Symbol.for('__evidence-chart-window-debug__')] || {};
		return Object.values(registry)
			.filter((chart) => !chart.isDisposed() && chart.getDom().isConnected)
			.map((chart) => {
				const option = chart.getOption();
				const title = (option.title || [])[0] || {};
				return {
					title: title.text || '',
					subtitle: title.subtext || '',
					series: option.series.map((s) => ({
						name: s.name,
						type: s.type,
						data: s.data,
						markLines: s.markLine && s.markLine.data ? s.markLine.data.length : 0
					}))
				};
			});
	});
}

// Waits until every chart named has rendered with data; returns the page's charts.
async function waitForCharts(page, titles) {
	let found = [];
	for (let i = 0; i < 120; i++) {
		found = await charts(page);
		const ready = titles.every((t) =>
			found.some((c) => c.title.startsWith(t) && c.series.some((s) => valuedPoints(s) > 0))
		);
		if (ready) {
			await page.waitForTimeout(500);
			return charts(page);
		}
		await page.waitForTimeout(500);
	}
	return found;
}

const key = (name) => String(name).toLowerCase().replace(/ /g, '_');

// One chart: found by its title, with a subtitle, exactly the series expected (name ->
// valued points) besides reference lines.
function checkChart(found, page, title, seriesPoints, markLines) {
	const chart = found.find((c) => c.title.startsWith(title));
	report(!!chart, `${page}: the chart "${title}" renders`);
	if (!chart) return;
	report(chart.subtitle.length > 20, `${page}: "${title}" says what it plots`, chart.subtitle);
	const plotted = chart.series.filter((s) => valuedPoints(s) > 0);
	const got = Object.fromEntries(plotted.map((s) => [key(s.name), valuedPoints(s)]));
	const want = Object.fromEntries(
		Object.entries(seriesPoints).filter(([, n]) => n > 0).map(([n, v]) => [key(n), v])
	);
	report(
		JSON.stringify(Object.keys(got).sort()) === JSON.stringify(Object.keys(want).sort()),
		`${page}: "${title}" has ${Object.keys(want).length} series`,
		`got ${JSON.stringify(got)}, gold has ${JSON.stringify(want)}`
	);
	const wrong = Object.keys(want).filter((s) => got[s] !== want[s]);
	report(
		wrong.length === 0,
		`${page}: "${title}" plots gold's number of points per series`,
		wrong.map((s) => `${s}: ${got[s]} shown, ${want[s]} in gold`).join('; ')
	);
	if (markLines !== undefined) {
		const lines = chart.series.reduce((n, s) => n + s.markLines, 0);
		report(lines === markLines, `${page}: "${title}" marks ${markLines} adjustments`, `${lines} marked`);
	}
}

// The ways a number may be shown at a precision: rounded down or up (JavaScript's and the
// formatter's rounding of a binary fraction may differ at the half).
function shown(value, decimals, { percent = false, sign = false } = {}) {
	const v = percent ? value * 100 : value;
	const scale = 10 ** decimals;
	return [Math.floor(v * scale) / scale, Math.ceil(v * scale) / scale].map((x) => {
		let text = x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
		if (sign && x >= 0) text = `+${text}`;
		return percent ? `${text}%` : text;
	});
}

async function tableRows(page) {
	return page.$$eval('table tr', (rows) =>
		rows.map((r) => Array.from(r.querySelectorAll('td, th')).map((c) => c.textContent.trim()))
	);
}

function checkRow(rows, page, what, symbol, texts) {
	const row = rows.find((r) => r.includes(symbol));
	const missing = texts.filter((alternatives) => !alternatives.some((t) => row && row.includes(t)));
	report(
		row && missing.length === 0,
		`${page}: ${what} of ${symbol} is gold's`,
		row ? `row ${JSON.stringify(row)} lacks ${JSON.stringify(missing)}` : 'no row'
	);
}

async function bigValue(page, title) {
	const box = page.locator('.inline-block', { hasText: title }).first();
	return (await box.count()) ? (await box.innerText()).replace(title, '').trim() : null;
}

async function main() {
	const root = process.getuid && process.getuid() === 0;
	const browser = await chromium.launch({
		executablePath: chromiumPath,
		headless: true,
		args: root ? ['--no-sandbox'] : []
	});
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	const outside = [];
	const errors = [];
	// Nothing leaves the machine: a request to another host is recorded and never sent.
	await context.route('**/*', (route) => {
		const url = new URL(route.request().url());
		if (['127.0.0.1', 'localhost'].includes(url.hostname) || ['data:', 'blob:'].includes(url.protocol)) {
			return route.continue();
		}
		outside.push(url.href);
		return route.abort();
	});
	const page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
	// A request the page itself cancels (a query superseded, a navigation) is no failure.
	page.on('requestfailed', (r) => {
		const reason = (r.failure() || {}).errorText;
		if (!outside.includes(r.url()) && reason !== 'net::ERR_ABORTED') {
			errors.push(`${page.url()}: request failed ${r.url()} (${reason})`);
		}
	});
	page.on('response', (r) => {
		if (r.status() >= 400) errors.push(`${page.url()}: ${r.status()} for ${r.url()}`);
	});

	const perSymbol = (field) => Object.fromEntries(symbols.map((s) => [s, expected.symbols[s][field]]));
	const s = expected.symbols;

	async function visit(route, name, titles) {
		const response = await page.goto(base + route, { waitUntil: 'networkidle' });
		report(response && response.ok(), `${name}: ${route} loads`, response && response.status());
		const found = await waitForCharts(page, titles);
		await page.mouse.move(0, 0);
		await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
		return found;
	}

	// The home page: the stocks, and the partial weeks listed apart.
	await visit('/', 'home', []);
	let rows = await tableRows(page);
	for (const symbol of symbols) {
		report(rows.some((r) => r[0] === symbol), `home: ${symbol} is listed`);
		if (s[symbol].partial_week) {
			checkRow(rows, 'home', 'the partial week', symbol, [[s[symbol].partial_week]]);
		}
	}

	// 1. Weekly adjusted performance.
	let found = await visit('/performance/', 'performance', ['Cumulative adjusted return', 'Adjusted close', 'Trailing returns']);
	checkChart(found, 'performance', 'Cumulative adjusted return', perSymbol('cumulative_return'));
	checkChart(found, 'performance', 'Adjusted close', perSymbol('adjusted_close'));
	const trailing = symbols.filter((x) => s[x].latest && s[x].latest.return_52w !== null).length;
	checkChart(found, 'performance', 'Trailing returns', {
		'4 weeks': trailing,
		'13 weeks': trailing,
		'52 weeks': trailing
	});
	rows = await tableRows(page);
	for (const symbol of ['IBM', 'AAPL']) {
		const l = s[symbol].latest;
		checkRow(rows, 'performance', 'the newest closed week, adjusted close and 52-week return', symbol, [
			[l.week_ending],
			shown(l.adjusted_close, 2),
			shown(l.return_52w, 1, { percent: true })
		]);
	}

	// 2. Volume against volatility.
	found = await visit('/volume-volatility/', 'volume-volatility', ['Rolling 52-week correlation', 'Volume against volatility']);
	checkChart(found, 'volume-volatility', 'Rolling 52-week correlation', perSymbol('correlation'));
	checkChart(found, 'volume-volatility', 'Volume against volatility', perSymbol('scatter'));
	rows = await tableRows(page);
	const vv = s.IBM.latest_vv;
	checkRow(rows, 'volume-volatility', 'the newest correlation, volatility and mean volume', 'IBM', [
		shown(vv.correlation, 3, { sign: true }).map((t) => t.replace(/^-/, '-')),
		shown(vv.annualised_volatility, 1, { percent: true }),
		shown(vv.mean_volume, 0)
	]);

	// 3. Dividend growth.
	found = await visit('/dividends/', 'dividends', ['Dividends per share by year', 'Dividend growth']);
	checkChart(found, 'dividends', 'Dividends per share by year', perSymbol('complete_years'));
	checkChart(found, 'dividends', 'Dividend growth over the year before', perSymbol('growth_years'));
	rows = await tableRows(page);
	// The growers' table: symbol, years of growth, through (the years' table has a year second).
	// (Evidence renders each table twice, once for printing: the rows count once.)
	const growerRows = [...new Set(rows
		.filter((r) => symbols.includes(r[0]) && /^\d{1,3}$/.test(r[1]) && /^\d{4}$/.test(r[2]))
		.map((r) => r.slice(0, 3).join(' ')))];
	const growers = expected.growers.map((g) => `${g.symbol} ${g.streak} ${g.through}`);
	report(
		expected.growers.length === 0
			? (await page.locator('text=No stock has three').count()) > 0
			: JSON.stringify(growerRows.sort()) === JSON.stringify(growers.sort()),
		`dividends: the ${expected.growers.length} stocks of gold.dividend_growers(3) are listed with their streaks`,
		`${JSON.stringify(growerRows)} shown, ${JSON.stringify(growers)} in gold`
	);

	// The stock page, then another symbol picked.
	async function checkStock(symbol, name) {
		found = await waitForCharts(page, [`${symbol}: adjusted close`, `${symbol}: dividends`]);
		await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
		const x = s[symbol];
		checkChart(found, name, `${symbol}: adjusted close and moving averages`, {
			adjusted_close: x.adjusted_close,
			moving_average_13w: x.moving_average_13w,
			moving_average_52w: x.moving_average_52w
		}, x.adjustments);
		const dividends = found.find((c) => c.title.startsWith(`${symbol}: dividends`));
		const years = dividends ? Math.max(...dividends.series.map((d) => (d.data || []).length)) : 0;
		report(years === x.dividend_years, `${name}: the dividends of ${x.dividend_years} years are plotted`, `${years}`);
		const close = await bigValue(page, 'Adjusted close, newest closed week');
		report(shown(x.latest.adjusted_close, 2).includes(close), `${name}: the newest adjusted close of ${symbol} is gold's`,
			`${close} shown, ${x.latest.adjusted_close} in gold`);
		const findings = x.findings === 0
			? (await page.locator(`text=finds nothing wrong with ${symbol}`).count()) > 0
			: (await tableRows(page)).filter((r) => ['error', 'warning'].includes(r[0])).length > 0;
		report(findings, `${name}: the ${x.findings} findings of stockelt_check() for ${symbol} are shown`);
		return close;
	}
	await visit('/stock/', 'stock', ['IBM: adjusted close']);
	const before = await checkStock('IBM', 'stock');
	const other = symbols.find((x) => x !== 'IBM' && s[x].adjustments > 0) || symbols.find((x) => x !== 'IBM');
	// The picker: a button that opens a list of the stocks.
	await page.locator('button[role=combobox]', { hasText: 'IBM' }).first().click();
	await page.locator(`[role=option][data-value^="${other} "]`).first().click();
	await page.keyboard.press('Escape');
	const after = await checkStock(other, 'stock-other');
	report(before !== after, `stock: picking ${other} changes the page`, `${before} before, ${after} after`);

	// The pipeline.
	found = await visit('/pipeline/', 'pipeline', ['Jobs by state', 'Gold refreshes']);
	checkChart(found, 'pipeline', 'Jobs by state', { jobs: 5 });
	checkChart(found, 'pipeline', 'Gold refreshes', { weeks_written: expected.refreshes });
	const used = await bigValue(page, 'API calls today');
	report(used === String(expected.usage.used), 'pipeline: the API calls of the day are stockelt_usage()\'s',
		`${used} shown, ${expected.usage.used} in stockelt_usage()`);
	rows = await tableRows(page);
	report(rows.some((r) => r.includes(expected.failed_sqlstate) && r.some((c) => c.includes('BADCALL'))),
		`pipeline: the failed job is listed with its SQLSTATE ${expected.failed_sqlstate}`);
	report(rows.some((r) => r[0] === 'refresh gold'), 'pipeline: the worker\'s steps are listed');

	report(outside.length === 0, 'no page requests anything outside 127.0.0.1', outside.slice(0, 5).join(', '));
	report(errors.length === 0, 'no page logs a console error', errors.slice(0, 5).join(' | '));
	await browser.close();
}

main()
	.catch((e) => report(false, 'the browser test runs to its end', e.stack))
	.finally(() => process.exit(failures ? 1 : 0));
