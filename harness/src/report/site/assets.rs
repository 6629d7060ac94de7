//! The site's inline style and script: no framework, no fonts, nothing
//! fetched at view time. The page works without the script (all rows
//! shown); the script only adds the filters.

/// Phone width: tables scroll sideways inside their box, the scenario
/// column stays put; the reason shows on hover and on keyboard focus.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem;color:#111827;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6rem 0}td,th{border:1px solid #d1d5db;padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#f3f4f6;position:sticky;top:0}
#matrix th[scope=row]{position:sticky;left:0;z-index:1;background:#fff;white-space:nowrap}
#matrix td{white-space:nowrap;position:relative;font-size:.85rem}
tr.group th{background:#eef2ff;font-weight:600}tr.group th span{display:inline-block;position:sticky;left:.4rem;max-width:min(90vw,60rem);white-space:normal}
.pass{color:#047857}.fail{color:#b91c1c}.skip{color:#6b7280}.error{color:#b45309}
#matrix td.fail,#matrix td.error{background:#fef2f2}td.changed{outline:2px solid #7c3aed;outline-offset:-2px}
td a{color:inherit;font-weight:600}a:focus{outline:3px solid #2563eb}
.tip{display:none;position:absolute;z-index:3;left:0;top:100%;width:18rem;white-space:normal;background:#111827;color:#fff;padding:.4rem;border-radius:4px;font-weight:400}
td:hover .tip,td:focus-within .tip{display:block}
.small{color:#4b5563;font-size:.8rem}code{background:#f3f4f6;padding:1px 3px;border-radius:3px}
form{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.6rem 0}label{display:flex;flex-direction:column;font-size:.85rem}label.check{flex-direction:row;gap:.3rem;align-items:center}
input,select{font-size:1rem;padding:.2rem}
@media (max-width:600px){body{margin:.5rem}#matrix th[scope=row] code{font-size:.7rem}.implementations .small{display:none}.promises th[scope=row]{min-width:14rem}}";

/// Filters by promise (rows), implementation (columns and summary rows),
/// scenario id and "some implementation failed" (rows), shown once the script runs; a promise with no
/// row left hides its heading too.
pub const SCRIPT: &str = "(function(){
var f=document.getElementById('filters');f.hidden=false;
var area=f.elements.area,impl=f.elements.impl,q=f.elements.q,broken=f.elements.broken,count=document.getElementById('shown');
function apply(){
var a=area.value,t=impl.value,s=q.value.trim().toLowerCase(),b=broken.checked,n=0;
document.querySelectorAll('#matrix tbody').forEach(function(g){var k=0;
g.querySelectorAll('tr[data-id]').forEach(function(r){
r.hidden=(a!==''&&r.dataset.area!==a)||(s!==''&&r.dataset.id.toLowerCase().indexOf(s)<0)||(b&&!r.hasAttribute('data-broken'));if(!r.hidden)k++;});
g.hidden=k===0;n+=k;});
document.querySelectorAll('[data-t]').forEach(function(c){c.hidden=t!==''&&c.dataset.t!==t;});
document.querySelectorAll('#matrix tr').forEach(function(r){if(r.classList.contains('group'))return;
for(var i=1;i<r.cells.length;i++)r.cells[i].hidden=t!==''&&String(i-1)!==t;});
count.textContent=n+' scenario(s) shown';}
f.addEventListener('input',apply);f.addEventListener('submit',function(e){e.preventDefault();});apply();
})();";
