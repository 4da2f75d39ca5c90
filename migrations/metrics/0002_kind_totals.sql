-- One total series per kind (name '<all>', no labels) holding the merge of
-- every series of that kind per bucket; flushes keep it up to date from now
-- on (metrics_store.store.TOTAL_NAME). Process gauges have no total.
-- This backfills the rows written before it existed, in both tiers.

INSERT OR IGNORE INTO series (kind, name, labels, unit, created)
SELECT kind, '<all>', '', min(unit), strftime('%s', 'now')
FROM series WHERE kind IN ('http', 'db', 'render') GROUP BY kind;

INSERT OR REPLACE INTO rollup_minute (bucket, series_id, count, sum, min, max, sketch)
SELECT r.bucket, t.id, sum(r.count), sum(r.sum), min(r.min), max(r.max),
       sketch_union(r.sketch)
FROM series AS s
JOIN rollup_minute AS r ON r.series_id = s.id
JOIN series AS t ON t.kind = s.kind AND t.name = '<all>' AND t.labels = ''
WHERE s.name != '<all>'
GROUP BY r.bucket, t.id;

INSERT OR REPLACE INTO rollup_hour (bucket, series_id, count, sum, min, max, sketch)
SELECT r.bucket, t.id, sum(r.count), sum(r.sum), min(r.min), max(r.max),
       sketch_union(r.sketch)
FROM series AS s
JOIN rollup_hour AS r ON r.series_id = s.id
JOIN series AS t ON t.kind = s.kind AND t.name = '<all>' AND t.labels = ''
WHERE s.name != '<all>'
GROUP BY r.bucket, t.id;
