"""The coverage-gap report done the usual way with geopandas: the baseline `bench_coverage.py` times end to end.

Reads the same inputs as ``signpost coverage report`` (ONS PFA and LAD boundaries, the LSOA population file, the
services as the CSV that was imported) and writes the same kinds of output: a coverage table per area and
strand (population and area covered), the gap polygons as GeoJSON, and per level a map of "any" with gaps
hatched and small multiples per strand. Local provision: third-party reporting services with a local coverage.

    python bench/coverage_geopandas.py PFA.geojson LAD.geojson LSOA.csv SERVICES.csv OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely

STRANDS = ("disability", "race", "religion", "sexual_orientation", "transgender")
BNG = 27700


def service_geometries(services: pd.DataFrame, lads: gpd.GeoDataFrame, pfas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One BNG geometry and a strand bit mask per local third-party reporting service."""
    local = services[(services["kind"] == "third_party_reporting") & (services["coverage_type"] != "national")]
    local = local[local["status"] == "active"]
    by_code = {
        **dict(zip(lads["LAD25CD"], lads.geometry, strict=True)),
        **dict(zip(pfas["PFA23CD"], pfas.geometry, strict=True)),
    }
    circles = local[local["coverage_type"] == "radius"]
    centres = gpd.GeoSeries.from_xy(circles["centre_lon"].astype(float), circles["centre_lat"].astype(float), crs=4326)
    geoms = pd.Series(index=local.index, dtype=object)
    geoms[circles.index] = centres.to_crs(BNG).buffer(circles["radius_m"].astype(float).to_numpy(), 16).to_numpy()
    polygons = local[local["coverage_type"] == "polygon"]
    if len(polygons):
        shapes = gpd.GeoSeries([shapely.from_geojson(g) for g in polygons["geometry"]], crs=4326)
        geoms[polygons.index] = shapes.to_crs(BNG).make_valid().to_numpy()
    for i, row in local[local["coverage_type"] == "areas"].iterrows():
        geoms[i] = shapely.union_all(
            [by_code[c] for c in (x.strip() for x in row["area_codes"].split(";")) if c in by_code]
        )
    masks = []
    for text in local["strands"].fillna(""):
        names = STRANDS if text in ("", "all") else [s.strip() for s in text.split(";")]
        masks.append(sum(1 << STRANDS.index(s) for s in names if s in STRANDS))
    return gpd.GeoDataFrame({"mask": masks}, geometry=list(geoms), crs=BNG)


def main(pfa_path: str, lad_path: str, lsoa_path: str, services_path: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pfas = gpd.read_file(pfa_path).to_crs(BNG)
    lads = gpd.read_file(lad_path).to_crs(BNG)
    lads = lads[lads["LAD25CD"].str[0].isin(["E", "W"])].copy()
    lads["geometry"] = lads.make_valid()
    pfas["geometry"] = pfas.make_valid()
    lsoa = pd.read_csv(lsoa_path)
    points = gpd.GeoDataFrame(lsoa, geometry=gpd.points_from_xy(lsoa["BNG_E"], lsoa["BNG_N"]), crs=BNG)
    # LSOA -> LAD by polygon (nearest for coastal centroids), LAD -> PFA by the larger overlap.
    joined = gpd.sjoin(points, lads[["LAD25CD", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    missing = joined["LAD25CD"].isna()
    if missing.any():
        near = gpd.sjoin_nearest(points[missing], lads[["LAD25CD", "geometry"]], how="left")
        joined.loc[missing, "LAD25CD"] = near[~near.index.duplicated(keep="first")]["LAD25CD"].to_numpy()
    parts = gpd.overlay(lads[["LAD25CD", "geometry"]], pfas[["PFA23CD", "geometry"]], how="intersection")
    parts["a"] = parts.area
    lad_pfa = parts.sort_values("a").drop_duplicates("LAD25CD", keep="last").set_index("LAD25CD")["PFA23CD"]
    points["LAD25CD"] = joined["LAD25CD"].to_numpy()
    points["PFA23CD"] = points["LAD25CD"].map(lad_pfa)

    services = service_geometries(pd.read_csv(services_path, dtype=str, keep_default_na=False), lads, pfas)
    hits = gpd.sjoin(points[["geometry"]], services, how="inner", predicate="within")
    point_mask = hits.groupby(level=0)["mask"].agg(lambda m: np.bitwise_or.reduce(m.to_numpy()))
    points["mask"] = point_mask.reindex(points.index, fill_value=0).to_numpy()

    levels = {"pfa": (pfas, "PFA23CD"), "lad": (lads, "LAD25CD")}
    rows, gap_frames = [], []
    pct: dict[tuple[str, str], pd.Series] = {}
    for key in [*STRANDS, "any"]:
        bits = (1 << len(STRANDS)) - 1 if key == "any" else 1 << STRANDS.index(key)
        covered = (points["mask"] & bits) != 0
        serving = services[(services["mask"] & bits) != 0]
        dissolved = serving.dissolve()[["geometry"]] if len(serving) else serving[["geometry"]]
        for level, (areas, code) in levels.items():
            total = points.groupby(code)["population"].sum()
            cov = points.loc[covered].groupby(code)["population"].sum()
            inter = gpd.overlay(areas[[code, "geometry"]], dissolved, how="intersection", keep_geom_type=True)
            area = (inter.area / 1e6).groupby(inter[code]).sum()
            gaps = gpd.overlay(areas[[code, "geometry"]], dissolved, how="difference", keep_geom_type=True)
            gaps = gaps.explode(index_parts=False)
            gaps["strand"], gaps["level"] = key, level
            gap_frames.append(gaps.rename(columns={code: "code"}))
            table = pd.DataFrame({"code": areas[code], "area_km2": areas.area / 1e6})
            table["population"] = table["code"].map(total).fillna(0)
            table["population_covered"] = table["code"].map(cov).fillna(0)
            table["area_covered_km2"] = table["code"].map(area).fillna(0)
            table["pct_population_covered"] = 100 * table["population_covered"] / table["population"]
            table["level"], table["strand"] = level, key
            rows.append(table)
            pct[(level, key)] = table.set_index("code")["pct_population_covered"]
    pd.concat(rows).to_csv(out / "coverage.csv", index=False)
    gaps = gpd.GeoDataFrame(pd.concat(gap_frames, ignore_index=True), crs=BNG)
    gaps["population_in_gap"] = 0.0
    gaps.to_crs(4326).to_file(out / "gaps.geojson", driver="GeoJSON")
    for level, (areas, code) in levels.items():
        fig, ax = plt.subplots(figsize=(8, 9), dpi=150)
        areas.assign(pct=areas[code].map(pct[(level, "any")])).plot(
            column="pct", ax=ax, cmap="YlGnBu", vmin=0, vmax=100, edgecolor="#555555", linewidth=0.3, legend=True
        )
        gaps[(gaps["level"] == level) & (gaps["strand"] == "any")].plot(
            ax=ax, facecolor="none", edgecolor="#b2182b", hatch="////", linewidth=0.4
        )
        ax.set_axis_off()
        ax.set_title(f"% of residents covered by local third-party reporting, by {level}")
        fig.savefig(out / f"coverage_{level}.png", bbox_inches="tight")
        plt.close(fig)
        fig, axes = plt.subplots(2, 3, figsize=(12, 9.2), dpi=120)
        for ax, strand in zip(axes.ravel(), STRANDS, strict=False):
            areas.assign(pct=areas[code].map(pct[(level, strand)])).plot(
                column="pct", ax=ax, cmap="YlGnBu", vmin=0, vmax=100, edgecolor="#555555", linewidth=0.3
            )
            ax.set_title(strand)
        for ax in axes.ravel():
            ax.set_axis_off()
        fig.savefig(out / f"coverage_{level}_strands.png", bbox_inches="tight")
        plt.close(fig)
    (out / "summary.json").write_text(json.dumps({"rows": int(sum(len(r) for r in rows))}), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:6])
