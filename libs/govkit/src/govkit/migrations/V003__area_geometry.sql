-- The area copy keeps each area's shape (GeoJSON Polygon or MultiPolygon, WGS84) from gov.area.upserted.v1; null when the tree file has none.
alter table areas add column geometry jsonb;
