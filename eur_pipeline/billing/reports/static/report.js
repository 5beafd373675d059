(function(){
"use strict";
var NS="http://www.w3.org/2000/svg";
var D=JSON.parse(document.getElementById("report-data").textContent);
function el(tag,attrs,parent,text){var n=document.createElementNS(NS,tag);
 for(var k in attrs){n.setAttribute(k,attrs[k]);} if(text!==undefined){n.textContent=text;}
 if(parent){parent.appendChild(n);} return n;}
function svg(host,w,h,name){var s=el("svg",{viewBox:"0 0 "+w+" "+h,"class":"chart",role:"img",
 "data-chart":name,"aria-label":host.getAttribute("data-title")||name});host.appendChild(s);return s;}
function done(s){s.setAttribute("data-drawn","1");}
function nf(v){return Number(v).toLocaleString("en-US");}
// amounts as the tables show them: 2 places (the exact 4-place amounts are in the CSVs)
var money=function(v){return D.currency+" "+
 Number(v).toLocaleString("en-US",{minimumFractionDigits:2,maximumFractionDigits:2});};
function hbar(host,items,valueKey,fmt,color,width){
 var w=width||560,row=24,left=200,right=90,h=Math.max(1,items.length)*row+8;var s=svg(host,w,h,host.id);
 var max=0;items.forEach(function(it){max=Math.max(max,Number(it[valueKey]));});
 if(!items.length){el("text",{x:8,y:18},s,"no data");}
 items.forEach(function(it,i){var y=4+i*row;var v=Number(it[valueKey]);
  var bw=max>0?(w-left-right)*v/max:0;
  var label=String(it.label);if(label.length>30){label=label.slice(0,29)+"\u2026";}
  el("text",{x:left-8,y:y+15,"text-anchor":"end"},s,label);
  var r=el("rect",{x:left,y:y+3,width:Math.max(bw,1),height:row-8,rx:3,fill:color},s);
  el("title",{},r,it.label+": "+fmt(it[valueKey]));
  el("text",{x:left+Math.max(bw,1)+6,y:y+15},s,fmt(it[valueKey]));});
 done(s);}
function heatmap(host,m){
 var cell=38,left=44,top=22,w=left+24*cell+8,h=top+7*cell+34;var s=svg(host,w,h,"heatmap");
 var max=0;m.forEach(function(r){r.forEach(function(v){max=Math.max(max,v);});});
 for(var hr=0;hr<24;hr+=1){if(hr%3===0){el("text",{x:left+hr*cell+cell/2,y:14,"text-anchor":"middle"},s,
  (hr<10?"0":"")+hr+"h");}}
 m.forEach(function(r,d){el("text",{x:left-8,y:top+d*cell+cell/2+4,"text-anchor":"end"},s,D.weekdays[d]);
  r.forEach(function(v,hr){var t=max>0?v/max:0;
   var c="rgb("+Math.round(241-(241-29)*t)+","+Math.round(245-(245-78)*t)+","+Math.round(249-(249-216)*t)+")";
   var x=el("rect",{x:left+hr*cell+1,y:top+d*cell+1,width:cell-2,height:cell-2,rx:3,fill:c,"class":"cell"},s);
   el("title",{},x,D.weekdays[d]+" "+hr+":00\u2013"+(hr+1)+":00 \u2014 "+nf(v)+" messages");});});
 var ly=top+7*cell+14;el("text",{x:left,y:ly+10},s,"fewer");
 for(var i=0;i<=10;i+=1){var t=i/10;el("rect",{x:left+44+i*18,y:ly,width:16,height:12,fill:"rgb("+
  Math.round(241-(241-29)*t)+","+Math.round(245-(245-78)*t)+","+Math.round(249-(249-216)*t)+")"},s);}
 el("text",{x:left+44+11*18+4,y:ly+10},s,"more (max "+nf(max)+" / hour)");
 done(s);}
function columns(host,items,labelKey,valueKey,color,lineKey,lineColor){
 var w=1100,h=260,left=48,right=lineKey?90:16,top=16,bottom=40;var s=svg(host,w,h,host.id);
 // a slot is at most 1/12 of the plot: one or two periods are slim bars, not a wall
 var n=Math.max(items.length,1),slot=Math.min((w-left-right)/n,(w-left-right)/12),max=0,lmax=0;
 items.forEach(function(it){max=Math.max(max,Number(it[valueKey]));if(lineKey){lmax=Math.max(lmax,Number(it[lineKey]));}});
 var ph=h-top-bottom;el("line",{x1:left,y1:top+ph,x2:w-right,y2:top+ph,stroke:"#94a3b8"},s);
 el("text",{x:left-6,y:top+8,"text-anchor":"end"},s,nf(max));
 if(!items.length){el("text",{x:left+8,y:top+20},s,"no data");}
 var pts=[];
 items.forEach(function(it,i){var v=Number(it[valueKey]);var bh=max>0?ph*v/max:0;var x=left+i*slot;
  var r=el("rect",{x:x+slot*0.15,y:top+ph-bh,width:slot*0.7,height:Math.max(bh,0.5),fill:color,rx:2},s);
  el("title",{},r,it[labelKey]+": "+nf(v));
  if(n<=16||i%Math.ceil(n/16)===0){el("text",{x:x+slot/2,y:h-bottom+14,"text-anchor":"middle"},s,String(it[labelKey]));}
  if(lineKey){var lv=Number(it[lineKey]);
   pts.push([x+slot/2,top+ph-(lmax>0?ph*lv/lmax:0),it[labelKey]+": "+money(it[lineKey])]);}});
 if(lineKey&&pts.length){el("polyline",{points:pts.map(function(p){return p[0]+","+p[1];}).join(" "),fill:"none",
  stroke:lineColor,"stroke-width":2},s);
  pts.forEach(function(p){var c=el("circle",{cx:p[0],cy:p[1],r:3.5,fill:lineColor},s);el("title",{},c,p[2]);});
  el("text",{x:w-right+6,y:top+8},s,money(lmax));}
 done(s);}
hbar(document.getElementById("chart-site"),D.by_site,"total_cost",money,"#2563eb");
hbar(document.getElementById("chart-department"),D.by_department,"total_cost",money,"#7c3aed");
hbar(document.getElementById("chart-top"),D.top,"messages_total",nf,"#0891b2",1100);
heatmap(document.getElementById("chart-heatmap"),D.heatmap);
columns(document.getElementById("chart-trend"),D.trend,"period","messages","#93c5fd","total_cost","#b91c1c");
columns(document.getElementById("chart-daily"),D.daily,"day","n","#60a5fa");
document.body.setAttribute("data-charts-drawn",String(document.querySelectorAll("svg.chart[data-drawn]").length));
})();
