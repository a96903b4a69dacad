-- What the restored database holds, as one JSON document: the registry (model versions and aliases), every
-- experiment and every run, deleted ones too. Per run, its params, latest metrics and tags are reduced to a
-- count and a sha256 computed exactly as module_utils/mlflow.py's data_digest computes them from MLflow's
-- REST API for the backup manifest: lines of hex fields (keys and values as UTF-8 hex, metric values as the
-- 8 bytes of the double, NaN as "nan"), sorted bytewise, joined by newlines.
WITH
lines AS (
  SELECT 'params' AS kind, run_uuid,
      encode(convert_to(key, 'UTF8'), 'hex') || ':' || encode(convert_to(coalesce(value, ''), 'UTF8'), 'hex') AS line
    FROM params
  UNION ALL
  SELECT 'tags', run_uuid,
      encode(convert_to(key, 'UTF8'), 'hex') || ':' || encode(convert_to(coalesce(value, ''), 'UTF8'), 'hex')
    FROM tags
  UNION ALL
  SELECT 'metrics', run_uuid,
      encode(convert_to(key, 'UTF8'), 'hex') || ':'
      || CASE WHEN is_nan THEN 'nan' ELSE encode(float8send(value), 'hex') END || ':'
      || coalesce(step, 0)::text || ':' || coalesce(timestamp, 0)::text
    FROM latest_metrics),
digests AS (
  SELECT kind, run_uuid, count(*) AS count,
    encode(sha256(convert_to(string_agg(line, E'\n' ORDER BY line COLLATE "C"), 'UTF8')), 'hex') AS sha256
  FROM lines
  GROUP BY kind, run_uuid)
SELECT json_build_object(
  'versions', (SELECT coalesce(json_agg(json_build_object('name', name, 'version', version::text)), '[]')
    FROM model_versions),
  'aliases', (SELECT coalesce(json_agg(json_build_object('name', name, 'alias', alias, 'version', version::text)), '[]')
    FROM registered_model_aliases),
  'experiments', (SELECT coalesce(json_agg(json_build_object(
      'experiment_id', experiment_id::text, 'name', name, 'lifecycle_stage', lifecycle_stage,
      'artifact_location', artifact_location)), '[]')
    FROM experiments),
  'runs', (SELECT coalesce(json_agg(json_build_object(
      'run_id', r.run_uuid, 'experiment_id', r.experiment_id::text, 'status', r.status,
      'lifecycle_stage', r.lifecycle_stage, 'start_time', r.start_time, 'end_time', r.end_time,
      'artifact_uri', r.artifact_uri,
      'params', json_build_object('count', coalesce(p.count, 0), 'sha256', coalesce(p.sha256, encode(sha256(''::bytea), 'hex'))),
      'metrics', json_build_object('count', coalesce(m.count, 0), 'sha256', coalesce(m.sha256, encode(sha256(''::bytea), 'hex'))),
      'tags', json_build_object('count', coalesce(t.count, 0), 'sha256', coalesce(t.sha256, encode(sha256(''::bytea), 'hex'))))), '[]')
    FROM runs AS r
    LEFT JOIN digests AS p ON p.run_uuid = r.run_uuid AND p.kind = 'params'
    LEFT JOIN digests AS m ON m.run_uuid = r.run_uuid AND m.kind = 'metrics'
    LEFT JOIN digests AS t ON t.run_uuid = r.run_uuid AND t.kind = 'tags'));
